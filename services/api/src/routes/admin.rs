//! Operators' view of the job queue: list jobs by status, make a dead job run again.

use axum::Json;
use axum::extract::State;
use medsync_core::domain::jobs::{self, JobInfo, JobStatus, RetryError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Admins, Authorized};
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
    /// Not before (RFC 3339).
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
    /// When it was enqueued (RFC 3339).
    pub created_at: String,
    /// When it succeeded or died (RFC 3339).
    pub finished_at: Option<String>,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl From<JobInfo> for JobOut {
    fn from(j: JobInfo) -> Self {
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
        items: items.into_iter().map(JobOut::from).collect(),
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
    match jobs::retry(&mut conn, id).await {
        Ok(job) => Ok(Json(job.into())),
        Err(RetryError::NotFound) => Err(ApiError::NotFound("no such job".to_owned())),
        Err(e @ (RetryError::NotRetryable(_) | RetryError::Duplicate)) => {
            Err(ApiError::Conflict(e.to_string()))
        }
        Err(RetryError::Database(e)) => Err(e.into()),
    }
}
