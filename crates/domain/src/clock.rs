//! Instants and the clinic's time zone.
//!
//! One time library, end to end: instants are `jiff::Timestamp`, weekly hours
//! `jiff::civil::Time`, the clinic's zone a `jiff::tz::TimeZone` (IANA rules). PostgreSQL
//! columns are read and written through `jiff-sqlx`'s wrappers (`ts.to_sqlx()` to bind,
//! `#[sqlx(try_from = "jiff_sqlx::Timestamp")]` or `.to_jiff()` to read).
//!
//! Every instant shown to people or clients is rendered in the clinic's zone: RFC 3339 with the
//! clinic's UTC offset at that instant ([`rfc3339_in`]) for the API and `manage`, words for
//! chats ([`human`]).

use std::fmt;

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

/// RFC 3339 with the clinic's offset at that instant, e.g. `2030-03-31T09:00:00+02:00`.
pub fn rfc3339_in(ts: Timestamp, tz: &TimeZone) -> String {
    Rfc3339::new(ts, tz.to_offset(ts)).to_string()
}

/// An instant written as [`rfc3339_in`] writes it, with an offset already known: whole seconds
/// (`%S`, a fraction dropped) and `±HH:MM`. It writes into the formatter or the JSON
/// serializer directly, without a `String` of its own, for answers that carry thousands of
/// instants (a week of free slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339 {
    ts: Timestamp,
    offset: Offset,
}

impl Rfc3339 {
    /// `ts` shown at `offset`.
    pub fn new(ts: Timestamp, offset: Offset) -> Self {
        Self { ts, offset }
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset_seconds = self.offset.seconds();
        if self.ts.subsec_nanosecond() == 0 && offset_seconds % 60 == 0 {
            // The common case (whole seconds, an offset of whole minutes) written digit by
            // digit: a week of slots writes four thousand of these per answer, and a general
            // printer took most of the answer's time. The test below holds it to the pattern.
            let local = self.offset.to_datetime(self.ts);
            let year = local.year();
            if (0..=9999).contains(&year) {
                let mut out = *b"0000-00-00T00:00:00+00:00";
                let mut put = |at: usize, value: i32, width: usize| {
                    let mut value = value.unsigned_abs();
                    for i in (at..at + width).rev() {
                        // A digit: always below 10, so the cast cannot truncate.
                        #[allow(clippy::cast_possible_truncation)]
                        {
                            out[i] = b'0' + (value % 10) as u8;
                        }
                        value /= 10;
                    }
                };
                put(0, i32::from(year), 4);
                put(5, i32::from(local.month()), 2);
                put(8, i32::from(local.day()), 2);
                put(11, i32::from(local.hour()), 2);
                put(14, i32::from(local.minute()), 2);
                put(17, i32::from(local.second()), 2);
                let minutes = offset_seconds / 60;
                put(20, minutes / 60, 2);
                put(23, minutes % 60, 2);
                if minutes < 0 {
                    out[19] = b'-';
                }
                // Only ASCII digits and separators were written.
                return f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?);
            }
            // jiff's RFC 3339 printer, which differs from the pattern only in a fraction of a
            // second and in an offset with seconds, both excluded here.
            fmt::Display::fmt(&self.ts.display_with_offset(self.offset), f)
        } else {
            let local = self.offset.to_datetime(self.ts);
            let zoned = local
                .to_zoned(TimeZone::fixed(self.offset))
                .map_err(|_| fmt::Error)?;
            fmt::Display::fmt(&zoned.strftime("%Y-%m-%dT%H:%M:%S%:z"), f)
        }
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Writes instants as [`rfc3339_in`] does, into a byte buffer: for answers of thousands of
/// them (a week of free slots), where formatting through `fmt` and a serializer took most of
/// the answer's time. The local date is worked out once per local day met, the time of day by
/// arithmetic, the offset once per span between transitions ([`Offsets`]); an instant with a
/// fraction of a second or an offset with seconds goes through [`Rfc3339`]. Only ASCII digits
/// and separators are written, so the bytes can stand in a JSON string as they are.
#[derive(Debug, Clone)]
pub struct Rfc3339Writer<'a> {
    offsets: Offsets<'a>,
    /// The last local day met (days since 1970-01-01) and its date, `YYYY-MM-DD`.
    day: Option<(i64, [u8; 10])>,
}

impl<'a> Rfc3339Writer<'a> {
    /// For instants shown in `tz`.
    pub fn new(tz: &'a TimeZone) -> Self {
        Self {
            offsets: Offsets::new(tz),
            day: None,
        }
    }

    /// Appends `ts` to `out`.
    pub fn write(&mut self, out: &mut Vec<u8>, ts: Timestamp) {
        let offset = self.offsets.at(ts);
        let offset_seconds = offset.seconds();
        if ts.subsec_nanosecond() != 0 || offset_seconds % 60 != 0 {
            out.extend_from_slice(Rfc3339::new(ts, offset).to_string().as_bytes());
            return;
        }
        let local = ts.as_second() + i64::from(offset_seconds);
        let day = local.div_euclid(86_400);
        let date = match self.day {
            Some((cached, date)) if cached == day => Some(date),
            _ => {
                let civil = offset.to_datetime(ts).date();
                let year = i64::from(civil.year());
                (0..=9999).contains(&year).then(|| {
                    let mut date = *b"0000-00-00";
                    digits(&mut date[0..4], year);
                    digits(&mut date[5..7], i64::from(civil.month()));
                    digits(&mut date[8..10], i64::from(civil.day()));
                    self.day = Some((day, date));
                    date
                })
            }
        };
        match date {
            Some(date) => {
                let of_day = local.rem_euclid(86_400);
                let minutes = i64::from(offset_seconds / 60);
                let mut time = *b"T00:00:00+00:00";
                digits(&mut time[1..3], of_day / 3600);
                digits(&mut time[4..6], of_day / 60 % 60);
                digits(&mut time[7..9], of_day % 60);
                if minutes < 0 {
                    time[9] = b'-';
                }
                digits(&mut time[10..12], (minutes / 60).abs());
                digits(&mut time[13..15], (minutes % 60).abs());
                out.extend_from_slice(&date);
                out.extend_from_slice(&time);
            }
            None => out.extend_from_slice(Rfc3339::new(ts, offset).to_string().as_bytes()),
        }
    }
}

/// `value` (not negative, fewer digits than `into` has room for) as decimal digits, zero-padded.
fn digits(into: &mut [u8], mut value: i64) {
    for slot in into.iter_mut().rev() {
        // A digit: 0 to 9, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            *slot = b'0' + (value % 10) as u8;
        }
        value /= 10;
    }
}

/// A zone's offsets for instants met in increasing order, as a list of slots meets them: the
/// zone's rules are consulted once per span between two transitions instead of once per
/// instant. Earlier instants are answered too, by consulting the rules again.
#[derive(Debug, Clone)]
pub struct Offsets<'a> {
    tz: &'a TimeZone,
    /// `[from, until)` and the offset that holds in it.
    span: Option<(Timestamp, Timestamp, Offset)>,
}

impl<'a> Offsets<'a> {
    /// For `tz`.
    pub fn new(tz: &'a TimeZone) -> Self {
        Self { tz, span: None }
    }

    /// The zone's offset at `ts`.
    pub fn at(&mut self, ts: Timestamp) -> Offset {
        if let Some((from, until, offset)) = self.span
            && from <= ts
            && ts < until
        {
            return offset;
        }
        let offset = self.tz.to_offset(ts);
        let until = self
            .tz
            .following(ts)
            .next()
            .map_or(Timestamp::MAX, |next| next.timestamp());
        self.span = Some((ts, until, offset));
        offset
    }

    /// `ts` as [`rfc3339_in`] writes it in this zone.
    pub fn rfc3339(&mut self, ts: Timestamp) -> Rfc3339 {
        Rfc3339::new(ts, self.at(ts))
    }
}

/// An instant for people, in the clinic's zone: `Thursday 26 November 2026 at 14:00
/// (Europe/Berlin)`. The bot's answers and the worker's messages use it alike.
pub fn human(ts: Timestamp, tz: &TimeZone) -> String {
    let local = ts.to_zoned(tz.clone());
    let zone = tz.iana_name().unwrap_or("UTC");
    format!("{} ({zone})", local.strftime("%A %-d %B %Y at %H:%M"))
}

/// Parses an RFC 3339 instant with an offset or `Z` (`2030-01-07T09:00:00+01:00`).
pub fn parse_rfc3339(raw: &str) -> Result<Timestamp, String> {
    raw.parse::<Timestamp>().map_err(|_| {
        "an RFC 3339 date-time with an offset, e.g. 2030-01-07T09:00:00+01:00".to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    /// What `rfc3339_in` printed before it used [`Rfc3339`]: the oracle.
    fn by_pattern(ts: Timestamp, tz: &TimeZone) -> String {
        ts.to_zoned(tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    fn zones() -> Vec<TimeZone> {
        [
            "UTC",
            "Europe/Berlin",
            "America/St_Johns",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
            "Africa/Monrovia",
        ]
        .iter()
        .map(|name| TimeZone::get(name).unwrap())
        .collect()
    }

    #[test]
    fn every_instant_reads_as_the_pattern_wrote_it_across_transitions() {
        // Every 7 minutes and 13 seconds over three years (DST changes both ways), plus
        // instants with a fraction, and 1971 (Monrovia's offset of -00:44:30).
        let mut instants = Vec::new();
        let mut ts: Timestamp = "2029-01-01T00:00:00Z".parse().unwrap();
        while ts < "2032-01-01T00:00:00Z".parse().unwrap() {
            instants.push(ts);
            ts += SignedDuration::from_secs(7 * 60 + 13);
        }
        instants.push("2030-03-31T01:00:00.5Z".parse().unwrap());
        instants.push("1971-06-01T12:00:00Z".parse().unwrap());
        instants.push("1971-06-01T12:00:00.25Z".parse().unwrap());
        for tz in zones() {
            let mut offsets = Offsets::new(&tz);
            for &ts in &instants {
                let expected = by_pattern(ts, &tz);
                assert_eq!(rfc3339_in(ts, &tz), expected);
                assert_eq!(offsets.rfc3339(ts).to_string(), expected, "{ts} in {tz:?}");
                assert_eq!(serde_json::to_value(offsets.rfc3339(ts)).unwrap(), expected);
            }
            // The writer, over the same instants in one buffer, as an answer writes them.
            let mut writer = Rfc3339Writer::new(&tz);
            let mut written = Vec::new();
            for &ts in &instants {
                writer.write(&mut written, ts);
                written.push(b' ');
            }
            let expected: Vec<String> = instants.iter().map(|&ts| by_pattern(ts, &tz)).collect();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                expected.join(" ") + " "
            );
        }
    }

    #[test]
    fn offsets_answer_instants_out_of_order_too() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let mut offsets = Offsets::new(&tz);
        for raw in [
            "2030-10-27T00:59:59Z",
            "2030-10-27T01:00:00Z",
            "2030-03-31T00:59:59Z",
            "2030-03-31T01:00:00Z",
            "2030-10-27T00:59:59Z",
            "2031-01-01T00:00:00Z",
        ] {
            let ts: Timestamp = raw.parse().unwrap();
            assert_eq!(offsets.at(ts), tz.to_offset(ts), "{raw}");
        }
    }
}
