//! The pages, one module per part of the app, merged here; and what they share: form and query
//! extractors that answer a malformed request with a page, and the clinic's way of writing
//! days and times.

mod account;
mod booking;
mod catalog;
mod staff;
mod visits;

use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::de::DeserializeOwned;

use crate::render::{self, PageError};
use crate::{PREFIX, WebState};

/// Every page.
pub fn router() -> Router<WebState> {
    Router::new()
        .route(
            PREFIX,
            get(|| async { render::see_other(&format!("{PREFIX}/")) }),
        )
        .merge(catalog::router())
        .merge(booking::router())
        .merge(visits::router())
        .merge(account::router())
        .merge(staff::router())
}

/// Any other path.
pub async fn not_found() -> Response {
    PageError::NotFound("there is no such page").into_response()
}

/// axum's `Form`, answering a malformed form with a 400 page.
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, PageError> {
        axum::Form::<T>::from_request(request, state)
            .await
            .map(|axum::Form(value)| Self(value))
            .map_err(|e: FormRejection| PageError::BadRequest(e.body_text()))
    }
}

/// axum's `Query`, answering a malformed query string with a 400 page.
#[derive(Debug)]
pub struct PageQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for PageQuery<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|e: QueryRejection| PageError::BadRequest(e.body_text()))
    }
}

/// A day as the pages show it: `Mon 7 Dec`.
pub fn day_label(day: Date) -> String {
    day.strftime("%a %-d %b").to_string()
}

/// A time of day in the clinic's zone: `09:30`.
pub fn time_label(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// An instant for people, in the clinic's zone (as the bot and the worker write it).
pub fn when(at: Timestamp, tz: &TimeZone) -> String {
    medsync_domain::clock::human(at, tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_times_are_written_in_the_clinics_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let at: Timestamp = "2030-01-07T08:30:00Z".parse().unwrap();
        assert_eq!(time_label(at, &berlin), "09:30");
        assert_eq!(day_label(jiff::civil::date(2030, 1, 7)), "Mon 7 Jan");
        assert_eq!(
            when(at, &berlin),
            "Monday 7 January 2030 at 09:30 (Europe/Berlin)"
        );
    }
}
