//! What each step of the booking dialogue shows: its question and its buttons, from the
//! specialties, the doctors and their free slots in the booking window.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan as _};
use medsync_domain::{catalog, clock, slots};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use uuid::Uuid;

use super::Conversation;
use super::button::Button;
use crate::dialogue::Step;

impl Conversation {
    /// The question and the buttons of a step.
    pub(super) async fn render(
        &self,
        step: &Step,
    ) -> anyhow::Result<(String, InlineKeyboardMarkup)> {
        let mut conn = self.db.acquire().await?;
        let tz = &self.settings.rules.timezone;
        let mut rows: Vec<Vec<InlineKeyboardButton>> = Vec::new();
        let text = match *step {
            Step::Specialty => {
                let specialties = catalog::bookable_specialties(&mut conn).await?;
                rows.extend(
                    specialties
                        .iter()
                        .map(|s| vec![Button::Specialty(s.id).key(&s.name)]),
                );
                if specialties.is_empty() {
                    "The clinic has no doctors to book yet.".to_owned()
                } else {
                    "Which specialty?".to_owned()
                }
            }
            Step::Doctor { specialty } => {
                let (doctors, _) =
                    catalog::list_doctors(&mut conn, Some(specialty), None, 50, 0).await?;
                rows.extend(
                    doctors
                        .iter()
                        .map(|d| vec![Button::Doctor(d.id).key(&d.name)]),
                );
                if doctors.is_empty() {
                    "No doctor of this specialty can be booked now.".to_owned()
                } else {
                    "Which doctor?".to_owned()
                }
            }
            Step::Day { doctor, .. } => {
                let name = doctor_name(&mut conn, doctor).await?;
                let days = self.free_days(&mut conn, doctor).await?;
                for pair in days.chunks(2) {
                    rows.push(
                        pair.iter()
                            .map(|(day, count)| {
                                Button::Day(*day)
                                    .key(format!("{} · {count}", day.strftime("%a %-d %b")))
                            })
                            .collect(),
                    );
                }
                if days.is_empty() {
                    format!(
                        "{name} has no free time in the next {} days.",
                        self.window_days()
                    )
                } else {
                    format!("{name}: which day? (with the number of free times)")
                }
            }
            Step::Slot { doctor, day, .. } => {
                let name = doctor_name(&mut conn, doctor).await?;
                let free = self.free_on(&mut conn, doctor, day).await?;
                for four in free.chunks(4) {
                    rows.push(
                        four.iter()
                            .map(|slot| {
                                Button::At(slot.starts_at).key(
                                    slot.starts_at
                                        .to_zoned(tz.clone())
                                        .strftime("%H:%M")
                                        .to_string(),
                                )
                            })
                            .collect(),
                    );
                }
                let day_text = day.strftime("%A %-d %B");
                if free.is_empty() {
                    format!("{name} has no free time left on {day_text}.")
                } else {
                    format!("{name}, {day_text}: which time?")
                }
            }
            Step::Confirm {
                specialty,
                doctor,
                starts_at,
                ..
            } => {
                let name = doctor_name(&mut conn, doctor).await?;
                let specialty_name = catalog::list_specialties(&mut conn)
                    .await?
                    .into_iter()
                    .find(|s| s.id == specialty)
                    .map_or_else(String::new, |s| format!(" ({})", s.name));
                rows.push(vec![Button::Confirm.key("✅ Confirm")]);
                format!("Book {name}{specialty_name} on {}?", self.when(starts_at))
            }
        };
        if matches!(step, Step::Specialty) {
            rows.extend(self.app_row());
        }
        rows.push(Button::nav_row(step.back().is_some()));
        Ok((text, InlineKeyboardMarkup::new(rows)))
    }

    /// `starts_at` in the clinic's time zone, for people.
    pub(super) fn when(&self, starts_at: Timestamp) -> String {
        clock::human(starts_at, &self.settings.rules.timezone)
    }

    /// How many days ahead the bot offers: its own window, never past the clinic's horizon.
    pub(super) fn window_days(&self) -> u32 {
        u32::from(self.settings.booking_days).min(self.settings.rules.horizon_days)
    }

    /// The days of the booking window with free slots, and how many.
    pub(super) async fn free_days(
        &self,
        conn: &mut sqlx::PgConnection,
        doctor: Uuid,
    ) -> anyhow::Result<Vec<(Date, usize)>> {
        let tz = &self.settings.rules.timezone;
        let now = Timestamp::now();
        let today = now.to_zoned(tz.clone()).date();
        let end_day = today
            .checked_add(i64::from(self.window_days()).days())
            .unwrap_or(today);
        let horizon = now
            .checked_add(SignedDuration::from_hours(
                24 * i64::from(self.settings.rules.horizon_days),
            ))
            .unwrap_or(now);
        let end = end_day
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .unwrap_or(now)
            .min(horizon);
        let Some(calendar) = slots::load_calendar(conn, doctor, now, end).await? else {
            return Ok(Vec::new());
        };
        let mut days: Vec<(Date, usize)> = Vec::new();
        for slot in slots::free_slots(&calendar, tz, now, end, now) {
            let day = slot.starts_at.to_zoned(tz.clone()).date();
            match days.last_mut() {
                Some((d, n)) if *d == day => *n += 1,
                _ => days.push((day, 1)),
            }
        }
        Ok(days)
    }

    /// The free slots of a doctor on a local day.
    pub(super) async fn free_on(
        &self,
        conn: &mut sqlx::PgConnection,
        doctor: Uuid,
        day: Date,
    ) -> anyhow::Result<Vec<slots::Slot>> {
        let tz = &self.settings.rules.timezone;
        let (Ok(from), Ok(to)) = (
            day.to_zoned(tz.clone()),
            day.tomorrow().and_then(|d| d.to_zoned(tz.clone())),
        ) else {
            return Ok(Vec::new());
        };
        let (from, to) = (from.timestamp(), to.timestamp());
        let now = Timestamp::now();
        Ok(match slots::load_calendar(conn, doctor, from, to).await? {
            Some(calendar) => slots::free_slots(&calendar, tz, from, to, now),
            None => Vec::new(),
        })
    }
}

async fn doctor_name(conn: &mut sqlx::PgConnection, doctor: Uuid) -> anyhow::Result<String> {
    Ok(catalog::get_doctor(conn, doctor)
        .await?
        .map_or_else(|| "This doctor".to_owned(), |d| d.name))
}
