//! `/api/v1/specialties` and `/api/v1/doctors`: the catalog; admins edit it.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

mod doctors;
mod schedule;
mod specialties;
mod time_off;

pub use doctors::*;
pub use schedule::*;
pub use specialties::*;
pub use time_off::*;

/// The catalog's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            specialties::list_specialties,
            specialties::create_specialty
        ))
        .routes(routes!(
            specialties::update_specialty,
            specialties::delete_specialty
        ))
        .routes(routes!(doctors::list_doctors, doctors::create_doctor))
        .routes(routes!(
            doctors::get_doctor,
            doctors::update_doctor,
            doctors::retire_doctor
        ))
        .routes(routes!(schedule::set_schedule))
        .routes(routes!(time_off::list_time_off, time_off::add_time_off))
        .routes(routes!(time_off::delete_time_off))
}

fn check_slug(slug: &str) -> Result<&str, &'static str> {
    let ok = (1..=60).contains(&slug.len())
        && slug.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(slug)
    } else {
        Err("must be lower-case letters and digits joined by -")
    }
}

fn check_text(value: &str, max: usize) -> Result<&str, &'static str> {
    if value.chars().count() > max {
        Err("is too long")
    } else if value.chars().any(|c| c.is_control() && c != '\n') {
        Err("must not contain control characters")
    } else {
        Ok(value)
    }
}

fn check_title(value: &str) -> Result<String, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty");
    }
    check_text(value, 100).map(str::to_owned)
}
