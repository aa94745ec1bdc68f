//! `GET /api/v1/bookings` (one's own bookings, or everyone's for admins) and `GET
//! /api/v1/agenda` (a doctor's): pages of bookings, the upcoming ones of one account kept while
//! they hold (`kept_pages`).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use medsync_domain::bookings::{self, ListFilter, When};
use medsync_domain::users::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::BookingOut;
use crate::auth::{Authorized, CurrentUser, Doctors};
use crate::error::ApiError;
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn, WrongRole};
use crate::extract::ApiQuery;
use crate::kept_pages::{self, ListKey};
use crate::routes::{PageInfo, Pagination};
use crate::state::AppState;

/// Which bookings and which page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookingFilter {
    /// `upcoming` (default; soonest first) or `past` (latest first).
    #[param(value_type = Option<String>, example = "upcoming")]
    pub when: Option<When>,
    /// Admins: `all` lists everyone's bookings.
    pub scope: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// One page of bookings.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookingPage {
    /// The bookings of this page.
    pub items: Vec<BookingOut>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// A page of `list` as JSON. The upcoming bookings of one account are kept while they hold
/// (`kept_pages`); everything else is computed every time.
async fn page_of(
    state: &AppState,
    list: ListFilter,
    filter: &BookingFilter,
) -> Result<Response, ApiError> {
    let (page, per_page, limit, offset) = Pagination {
        page: filter.page,
        per_page: filter.per_page,
    }
    .resolve()?;
    let when = filter.when.unwrap_or_default();
    let key = match (list, when) {
        (ListFilter::Patient(account), When::Upcoming) => Some((account, false)),
        (ListFilter::DoctorUser(account), When::Upcoming) => Some((account, true)),
        _ => None,
    }
    .map(|(account, agenda)| ListKey {
        account,
        agenda,
        page,
        per_page,
    });
    if let Some(json) = key.as_ref().and_then(|key| state.lists_cache.get(key)) {
        return Ok(kept_pages::respond(json));
    }
    let ticket = key.and_then(|_| state.lists_cache.ticket());
    let mut conn = state.infra.db.acquire().await?;
    let found = bookings::list(&mut conn, list, when, limit, offset).await?;
    drop(conn);
    let json = Bytes::from(
        serde_json::to_vec(&BookingPage {
            items: found
                .items
                .into_iter()
                .map(|b| BookingOut::new(state, b))
                .collect(),
            page: PageInfo {
                page,
                per_page,
                total: found.total,
            },
        })
        .map_err(anyhow::Error::from)?,
    );
    if let (Some(key), Some(ticket)) = (key, ticket)
        && found.total < medsync_domain::COUNT_LIMIT
    {
        state
            .lists_cache
            .keep(key, json.clone(), ticket, found.first_end);
    }
    Ok(kept_pages::respond(json))
}

/// One's own bookings (admins: `scope=all` for everyone's), paginated with a total.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "bookings", security(("bearer" = [])), params(BookingFilter),
    responses(
        (status = 200, description = "A page of bookings", body = BookingPage),
        MalformedRequest, NotSignedIn, WrongRole, InvalidFields,
    ))]
pub(super) async fn list_bookings(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(filter): ApiQuery<BookingFilter>,
) -> Result<Response, ApiError> {
    let list = match filter.scope.as_deref() {
        Some("all") if user.claims.role == Role::Admin => ListFilter::All,
        Some("all") => return Err(ApiError::Forbidden),
        None | Some("mine") => ListFilter::Patient(user.claims.sub),
        Some(_) => return Err(ApiError::BadRequest("scope must be mine or all".to_owned())),
    };
    page_of(&state, list, &filter).await
}

/// The signed-in doctor's appointments, paginated with a total.
#[utoipa::path(get, path = "/api/v1/agenda", tag = "bookings", security(("bearer" = [])), params(BookingFilter),
    responses(
        (status = 200, description = "A page of the doctor's bookings", body = BookingPage),
        MalformedRequest, NotSignedIn, WrongRole, InvalidFields,
    ))]
pub(super) async fn agenda(
    State(state): State<AppState>,
    doctor: Authorized<Doctors>,
    ApiQuery(filter): ApiQuery<BookingFilter>,
) -> Result<Response, ApiError> {
    page_of(
        &state,
        ListFilter::DoctorUser(doctor.user.claims.sub),
        &filter,
    )
    .await
}
