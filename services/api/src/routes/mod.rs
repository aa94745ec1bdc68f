//! The API's routes, one module per resource, merged in [`router`].

pub mod admin;
pub mod auth;
pub mod bookings;
pub mod catalog;
pub mod slots;
pub mod telegram;
pub mod users;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

/// Every `/api/v1` route, with its OpenAPI description.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(catalog::router())
        .merge(slots::router())
        .merge(bookings::router())
        .merge(telegram::router())
        .merge(admin::router())
}

/// `?page=&per_page=`: pages start at 1; 1 to 100 items per page (default 20).
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

impl Pagination {
    /// `(page, per_page, limit, offset)`, or 422 when out of range.
    pub fn resolve(self) -> Result<(u32, u32, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(20);
        if page == 0 {
            return Err(ApiError::field("page", "must be 1 or more"));
        }
        if !(1..=100).contains(&per_page) {
            return Err(ApiError::field("per_page", "must be from 1 to 100"));
        }
        Ok((
            page,
            per_page,
            i64::from(per_page),
            i64::from(page - 1) * i64::from(per_page),
        ))
    }
}

/// Paging facts returned with every list: the items of the requested page and the total.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PageInfo {
    /// This page's number.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items in all pages, counted up to 10,000: a longer list says 10000 (page by date
    /// instead).
    pub total: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(page: Option<u32>, per_page: Option<u32>) -> Result<(u32, u32, i64, i64), String> {
        Pagination { page, per_page }
            .resolve()
            .map_err(|e| match e {
                ApiError::Validation(fields) => fields[0].field.clone(),
                other => other.to_string(),
            })
    }

    #[test]
    fn pages_start_at_one_with_twenty_items_and_turn_into_limit_and_offset() {
        assert_eq!(resolve(None, None), Ok((1, 20, 20, 0)));
        assert_eq!(resolve(Some(3), Some(50)), Ok((3, 50, 50, 100)));
        assert_eq!(
            resolve(Some(u32::MAX), Some(100)).map(|p| p.3),
            Ok(429_496_729_400)
        );
        assert_eq!(resolve(Some(0), None), Err("page".to_owned()));
        assert_eq!(resolve(None, Some(0)), Err("per_page".to_owned()));
        assert_eq!(resolve(None, Some(101)), Err("per_page".to_owned()));
    }
}
