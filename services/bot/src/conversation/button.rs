//! The inline buttons the bot shows, and the callback data each one carries: encoded and
//! parsed in this one place.
//!
//! The encoding is short (Telegram allows 64 bytes of callback data) and stable: buttons sent
//! by an older release stay valid after an update. A press whose data does not parse is
//! treated like a stale button of the booking dialogue.

use jiff::Timestamp;
use jiff::civil::Date;
use teloxide::types::InlineKeyboardButton;
use uuid::Uuid;

/// What pressing a button asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Button {
    /// Link this Telegram account with the code of `/start <code>` (`lk:<code>`).
    Link(String),
    /// Do not link, and void the code (`ln:<code>`).
    DontLink(String),
    /// The booking dialogue: this specialty (`sp:<uuid>`).
    Specialty(Uuid),
    /// The booking dialogue: this doctor (`dr:<uuid>`).
    Doctor(Uuid),
    /// The booking dialogue: this local day (`day:2030-01-07`).
    Day(Date),
    /// The booking dialogue: the slot starting at this instant (`at:<unix seconds>`).
    At(Timestamp),
    /// The booking dialogue: book it (`ok`).
    Confirm,
    /// The booking dialogue: one step back (`back`).
    Back,
    /// The booking dialogue: stop (`x`).
    Cancel,
    /// Ask whether to cancel this booking (`cb:<uuid>`).
    AskCancel(Uuid),
    /// Yes, cancel this booking (`cy:<uuid>`).
    CancelYes(Uuid),
    /// Show one's upcoming visits (`my`).
    MyVisits,
}

/// The label of the dialogue's "back" button.
pub const BACK: &str = "« Back";
/// The label of the dialogue's "cancel" button.
pub const CANCEL: &str = "✖ Cancel";

impl Button {
    /// The callback data.
    pub fn encode(&self) -> String {
        match self {
            Self::Link(code) => format!("lk:{code}"),
            Self::DontLink(code) => format!("ln:{code}"),
            Self::Specialty(id) => format!("sp:{id}"),
            Self::Doctor(id) => format!("dr:{id}"),
            Self::Day(day) => format!("day:{day}"),
            Self::At(starts_at) => format!("at:{}", starts_at.as_second()),
            Self::Confirm => "ok".to_owned(),
            Self::Back => "back".to_owned(),
            Self::Cancel => "x".to_owned(),
            Self::AskCancel(id) => format!("cb:{id}"),
            Self::CancelYes(id) => format!("cy:{id}"),
            Self::MyVisits => "my".to_owned(),
        }
    }

    /// The button `data` encodes, or `None` for data no button of ours carries.
    pub fn parse(data: &str) -> Option<Self> {
        match data {
            "ok" => return Some(Self::Confirm),
            "back" => return Some(Self::Back),
            "x" => return Some(Self::Cancel),
            "my" => return Some(Self::MyVisits),
            _ => {}
        }
        let (kind, value) = data.split_once(':')?;
        Some(match kind {
            "lk" if !value.is_empty() => Self::Link(value.to_owned()),
            "ln" if !value.is_empty() => Self::DontLink(value.to_owned()),
            "sp" => Self::Specialty(value.parse().ok()?),
            "dr" => Self::Doctor(value.parse().ok()?),
            "day" => Self::Day(value.parse().ok()?),
            "at" => Self::At(Timestamp::from_second(value.parse().ok()?).ok()?),
            "cb" => Self::AskCancel(value.parse().ok()?),
            "cy" => Self::CancelYes(value.parse().ok()?),
            _ => return None,
        })
    }

    /// An inline button labelled `text` that sends this.
    pub fn key(&self, text: impl Into<String>) -> InlineKeyboardButton {
        InlineKeyboardButton::callback(text.into(), self.encode())
    }

    /// The booking dialogue's last row: "back" (when there is a step to go back to) and
    /// "cancel".
    pub fn nav_row(back: bool) -> Vec<InlineKeyboardButton> {
        let mut row = Vec::new();
        if back {
            row.push(Self::Back.key(BACK));
        }
        row.push(Self::Cancel.key(CANCEL));
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_button_parses_back_from_its_encoding() {
        let id = Uuid::now_v7();
        let day: Date = "2030-01-07".parse().unwrap();
        let at = Timestamp::from_second(1_893_920_400).unwrap();
        for button in [
            Button::Link("abc123".to_owned()),
            Button::DontLink("abc123".to_owned()),
            Button::Specialty(id),
            Button::Doctor(id),
            Button::Day(day),
            Button::At(at),
            Button::Confirm,
            Button::Back,
            Button::Cancel,
            Button::AskCancel(id),
            Button::CancelYes(id),
            Button::MyVisits,
        ] {
            let data = button.encode();
            assert!(data.len() <= 64, "{data} is over Telegram's 64 bytes");
            assert_eq!(Button::parse(&data), Some(button), "{data}");
        }
    }

    #[test]
    fn the_encoding_is_the_one_older_releases_sent() {
        let id: Uuid = "0190e6f0-0000-7000-8000-000000000001".parse().unwrap();
        assert_eq!(Button::Specialty(id).encode(), format!("sp:{id}"));
        assert_eq!(
            Button::Day("2030-01-07".parse().unwrap()).encode(),
            "day:2030-01-07"
        );
        assert_eq!(
            Button::At(Timestamp::from_second(60).unwrap()).encode(),
            "at:60"
        );
        assert_eq!(Button::Cancel.encode(), "x");
    }

    #[test]
    fn forged_or_damaged_data_is_no_button() {
        for data in [
            "",
            "sp:",
            "sp:not-a-uuid",
            "day:2030-13-40",
            "at:soon",
            "at:99999999999999999",
            "lk:",
            "zz:1",
            "ok:1",
            "cb:1",
            "cy:",
            "unknown",
        ] {
            assert_eq!(Button::parse(data), None, "{data:?}");
        }
    }

    #[test]
    fn the_first_step_has_no_back_button() {
        let labels = |row: Vec<InlineKeyboardButton>| -> Vec<String> {
            row.into_iter().map(|b| b.text).collect()
        };
        assert_eq!(labels(Button::nav_row(false)), [CANCEL]);
        assert_eq!(labels(Button::nav_row(true)), [BACK, CANCEL]);
    }
}
