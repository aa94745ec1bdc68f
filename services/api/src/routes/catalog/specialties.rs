//! `/api/v1/specialties`: the list for everyone, and admins' edits.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medsync_domain::catalog::{self, Specialty};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admins, Authorized};
use crate::error::doc::{InvalidFields, MalformedRequest, NotSignedIn, WrongRole};
use crate::error::{ApiError, Fields, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

use super::*;

/// A specialty.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtyOut {
    /// Its id.
    pub id: Uuid,
    /// URL-safe name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// For patients.
    pub description: String,
}

impl From<Specialty> for SpecialtyOut {
    fn from(s: Specialty) -> Self {
        Self {
            id: s.id,
            slug: s.slug,
            name: s.name,
            description: s.description,
        }
    }
}

/// Every specialty, by name.
#[utoipa::path(get, path = "/api/v1/specialties", tag = "catalog",
    responses((status = 200, description = "Specialties", body = [SpecialtyOut])))]
pub(super) async fn list_specialties(
    State(state): State<AppState>,
) -> Result<Json<Vec<SpecialtyOut>>, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    let list = catalog::list_specialties(&mut conn).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// A new specialty.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSpecialty {
    /// Lower-case words joined by `-`, e.g. `sports-medicine`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// For patients.
    pub description: Option<String>,
}

/// Create a specialty (admins).
#[utoipa::path(post, path = "/api/v1/specialties", tag = "catalog", security(("bearer" = [])), request_body = NewSpecialty,
    responses(
        (status = 201, description = "Created", body = SpecialtyOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 409, description = "Slug or name taken", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
pub(super) async fn create_specialty(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiJson(request): ApiJson<NewSpecialty>,
) -> Result<(StatusCode, Json<SpecialtyOut>), ApiError> {
    let mut fields = Fields::default();
    let slug = fields
        .check("slug", check_slug(&request.slug))
        .map(str::to_owned);
    let name = fields.check("name", check_title(&request.name));
    let description = fields
        .check(
            "description",
            check_text(request.description.as_deref().unwrap_or_default(), 2000),
        )
        .map(str::to_owned);
    fields.finish()?;
    let (Some(slug), Some(name), Some(description)) = (slug, name, description) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validated fields missing"
        )));
    };
    let mut conn = state.infra.db.acquire().await?;
    let created = catalog::create_specialty(&mut conn, &slug, &name, &description).await?;
    state.doctors_cache.changed_everyone();
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Changes to a specialty.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpecialtyChange {
    /// Display name.
    pub name: Option<String>,
    /// For patients.
    pub description: Option<String>,
}

/// Change a specialty (admins).
#[utoipa::path(patch, path = "/api/v1/specialties/{id}", tag = "catalog", security(("bearer" = [])), request_body = SpecialtyChange,
    params(("id" = Uuid, Path, description = "Specialty id")),
    responses(
        (status = 200, description = "Updated", body = SpecialtyOut),
        MalformedRequest, NotSignedIn, WrongRole,
        (status = 404, description = "No such specialty", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    ))]
pub(super) async fn update_specialty(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(request): ApiJson<SpecialtyChange>,
) -> Result<Json<SpecialtyOut>, ApiError> {
    let mut fields = Fields::default();
    let name = match &request.name {
        Some(n) => fields.check("name", check_title(n)),
        None => None,
    };
    let description = match &request.description {
        Some(d) => fields
            .check("description", check_text(d, 2000))
            .map(str::to_owned),
        None => None,
    };
    fields.finish()?;
    let mut conn = state.infra.db.acquire().await?;
    let updated =
        catalog::update_specialty(&mut conn, id, name.as_deref(), description.as_deref()).await?;
    state.doctors_cache.changed_everyone();
    Ok(Json(updated.into()))
}

/// Delete a specialty (admins); doctors keep their other specialties.
#[utoipa::path(delete, path = "/api/v1/specialties/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Specialty id")),
    responses(
        (status = 204, description = "Deleted"),
        NotSignedIn, WrongRole,
        (status = 404, description = "No such specialty", body = Problem, content_type = "application/problem+json"),
    ))]
pub(super) async fn delete_specialty(
    State(state): State<AppState>,
    _admin: Authorized<Admins>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mut conn = state.infra.db.acquire().await?;
    if catalog::delete_specialty(&mut conn, id).await? {
        state.doctors_cache.changed_everyone();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("specialty"))
    }
}
