//! Operators' views: the job queue (list jobs by status, make a dead job run again) and the
//! audit trail; and [`audit_admin_changes`], which records every change an admin makes.

use axum::Json;
use axum::extract::{FromRequestParts as _, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use jiff::tz::TimeZone;
use medsync_domain::audit::{self, Channel, Entry, Event};
use medsync_domain::clock::{parse_rfc3339, rfc3339_in};
use medsync_domain::jobs::{self, JobInfo, JobStatus};
use medsync_domain::users::Role;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Admins, Authorized, CurrentUser};
use crate::client_ip::ClientIp;
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn, WrongRole};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::{PageInfo, Pagination};
use crate::state::AppState;

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
        .routes(routes!(list_audit))
}

/// Records a successful change by an admin to the catalog (`/api/v1/specialties…`,
/// `/api/v1/doctors…`) or the job queue (`/api/v1/admin/…`) as `admin.catalog.changed` or
/// `admin.jobs.changed`, with the method, the path and the answer's status. A layer rather
/// than a line in every handler, so a route added later is recorded too. It runs after the
/// change committed: a failure to record is logged as an error, not turned into a 500 for a
/// change that was made.
pub async fn audit_admin_changes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let action = if path.starts_with("/api/v1/admin/") {
        "admin.jobs.changed"
    } else if path.starts_with("/api/v1/specialties") || path.starts_with("/api/v1/doctors") {
        "admin.catalog.changed"
    } else {
        return next.run(request).await;
    };
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let who = CurrentUser::from_request_parts(&mut parts, &state)
        .await
        .ok();
    let ip = ClientIp::from_request_parts(&mut parts, &state).await.ok();
    let response = next.run(Request::from_parts(parts, body)).await;
    let Some(admin) = who.filter(|u| u.claims.role == Role::Admin) else {
        return response;
    };
    if response.status().is_success() {
        let mut event = Event::new(action, Channel::Api)
            .by(admin.claims.sub)
            .details(serde_json::json!({
                "method": method.as_str(),
                "path": path,
                "status": response.status().as_u16(),
            }));
        event.subject = None;
        event.ip = ip.map(|ClientIp(ip)| ip);
        let recorded = match state.infra.db.acquire().await {
            Ok(mut conn) => audit::record(&mut conn, event).await,
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::error!(%error, action, %path, "could not record an admin change");
        }
    }
    response
}

/// An event of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    /// Its id.
    pub id: Uuid,
    /// When (RFC 3339, the clinic's offset).
    pub at: String,
    /// What, e.g. `auth.login.failed`, `booking.created`, `admin.catalog.changed`.
    pub action: String,
    /// `api`, `bot`, `web`, `manage` or `worker`.
    pub channel: String,
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// Whose account it concerns.
    pub subject_id: Option<Uuid>,
    /// The booking it concerns.
    pub booking_id: Option<Uuid>,
    /// The client's address.
    pub ip: Option<String>,
    /// The rest (never a password or a token).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl AuditOut {
    fn new(e: Entry, tz: &TimeZone) -> Self {
        Self {
            id: e.id,
            at: rfc3339_in(e.at, tz),
            action: e.action,
            channel: e.channel,
            actor_id: e.actor_id,
            subject_id: e.subject_id,
            booking_id: e.booking_id,
            ip: e.ip,
            details: e.details,
        }
    }
}

/// Which events and which page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// This action, or every action under it (`auth` gives `auth.login.failed` and the rest).
    #[param(example = "auth.login")]
    pub action: Option<String>,
    /// Done by this user.
    pub actor_id: Option<Uuid>,
    /// Concerning this user's account.
    pub subject_id: Option<Uuid>,
    /// Concerning this booking.
    pub booking_id: Option<Uuid>,
    /// At or after (RFC 3339).
    pub since: Option<String>,
    /// Before (RFC 3339).
    pub until: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// One page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The events of this page, newest first.
    pub items: Vec<AuditOut>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// The audit trail, newest first (admins).
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditFilter),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        MalformedRequest, NotSignedIn, WrongRole, InvalidFields,
    ))]
async fn list_audit(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> Result<Json<AuditPage>, ApiError> {
    let time = |field: &'static str, raw: &Option<String>| match raw {
        None => Ok(None),
        Some(raw) => parse_rfc3339(raw)
            .map(Some)
            .map_err(|_| ApiError::field(field, "must be an RFC 3339 date-time with an offset")),
    };
    let since = time("since", &filter.since)?;
    let until = time("until", &filter.until)?;
    if let Some(action) = &filter.action
        && (action.is_empty()
            || action.len() > 100
            || !action
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.'))
    {
        return Err(ApiError::field(
            "action",
            "must be an action such as auth.login.failed, or a prefix such as auth",
        ));
    }
    let (page, per_page, limit, offset) = Pagination {
        page: filter.page,
        per_page: filter.per_page,
    }
    .resolve()?;
    let query = audit::Filter {
        action: filter.action,
        actor: filter.actor_id,
        subject: filter.subject_id,
        booking: filter.booking_id,
        since,
        until,
    };
    let mut conn = state.infra.db.acquire().await?;
    let (items, total) = audit::list(&mut conn, &query, limit, offset).await?;
    Ok(Json(AuditPage {
        items: items
            .into_iter()
            .map(|e| AuditOut::new(e, &state.config.booking.timezone))
            .collect(),
        page: PageInfo {
            page,
            per_page,
            total,
        },
    }))
}

/// A job of the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobOut {
    /// Its id.
    pub id: Uuid,
    /// What it does, e.g. `booking.confirmation`.
    pub kind: String,
    /// Its payload (versioned by its `v`).
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// `queued`, `running`, `succeeded` or `dead`.
    #[schema(example = "dead")]
    pub status: String,
    /// Not before (RFC 3339, the clinic's offset).
    pub run_at: String,
    /// Attempts made.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Why it ended without doing its work, if so (e.g. the patient blocked the bot).
    pub note: Option<String>,
    /// The worker holding it, or that last ran it.
    pub worker: Option<String>,
    /// The booking it belongs to.
    pub booking_id: Option<Uuid>,
    /// When it was enqueued (RFC 3339, the clinic's offset).
    pub created_at: String,
    /// When it succeeded or died (RFC 3339, the clinic's offset).
    pub finished_at: Option<String>,
}

impl JobOut {
    fn new(j: JobInfo, tz: &TimeZone) -> Self {
        let rfc3339 = |t| rfc3339_in(t, tz);
        Self {
            id: j.id,
            kind: j.kind,
            payload: j.payload,
            status: j.status.as_str().to_owned(),
            run_at: rfc3339(j.run_at),
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
            note: j.note,
            worker: j.locked_by,
            booking_id: j.booking_id,
            created_at: rfc3339(j.created_at),
            finished_at: j.finished_at.map(rfc3339),
        }
    }
}

/// Which jobs and which page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobFilter {
    /// Only jobs in this state: `queued`, `running`, `succeeded` or `dead`.
    #[param(example = "dead")]
    pub status: Option<String>,
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// One page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// The jobs of this page, newest first.
    pub items: Vec<JobOut>,
    /// Paging.
    #[serde(flatten)]
    pub page: PageInfo,
}

/// Jobs, newest first (admins).
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])), params(JobFilter),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        MalformedRequest, NotSignedIn, WrongRole, InvalidFields,
    ))]
async fn list_jobs(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiQuery(filter): ApiQuery<JobFilter>,
) -> Result<Json<JobPage>, ApiError> {
    let status = match filter.status.as_deref() {
        None => None,
        Some(raw) => Some(
            JobStatus::ALL
                .into_iter()
                .find(|s| s.as_str() == raw)
                .ok_or_else(|| {
                    ApiError::field("status", "must be queued, running, succeeded or dead")
                })?,
        ),
    };
    let (page, per_page, limit, offset) = Pagination {
        page: filter.page,
        per_page: filter.per_page,
    }
    .resolve()?;
    let mut conn = state.infra.db.acquire().await?;
    let (items, total) = jobs::list(&mut conn, status, limit, offset).await?;
    Ok(Json(JobPage {
        items: items
            .into_iter()
            .map(|j| JobOut::new(j, &state.config.booking.timezone))
            .collect(),
        page: PageInfo {
            page,
            per_page,
            total,
        },
    }))
}

/// Makes a dead (or waiting) job run now, with its attempts counted afresh (admins).
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Queued to run now", body = JobOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Running or succeeded, or an identical job is queued", body = Problem, content_type = "application/problem+json"),
    ))]
async fn retry_job(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<JobOut>, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let job = jobs::retry(&mut conn, id).await?;
    Ok(Json(JobOut::new(job, &state.config.booking.timezone)))
}
