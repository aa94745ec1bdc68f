//! The audit trail: who did what, to whom, through which channel. Events are appended in the
//! transaction of the change they describe (a booking and its event commit together or not at
//! all), read by admins with filters, and removed only by the retention clean-up.
//!
//! Actions are dotted names: `auth.login.succeeded`, `auth.login.failed`, `auth.login.limited`,
//! `auth.refresh.reused`, `auth.logout_all`, `user.password.changed`, `user.role.changed`,
//! `telegram.linked`, `telegram.merged`, `booking.created`, `booking.cancelled`,
//! `admin.catalog.changed`, `admin.jobs.changed`.

use std::net::IpAddr;
use std::sync::LazyLock;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use jiff_sqlx::ToSqlx;

use crate::PgQuery;

/// Where an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The HTTP API.
    Api,
    /// The Telegram bot.
    Bot,
    /// A web front end on the API.
    Web,
    /// The `manage` command line.
    Manage,
    /// The worker.
    Worker,
}

impl Channel {
    /// Its name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Bot => "bot",
            Self::Web => "web",
            Self::Manage => "manage",
            Self::Worker => "worker",
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened (a dotted name, see the module's list).
    pub action: &'static str,
    /// Through which channel.
    pub channel: Channel,
    /// Who did it, when known.
    pub actor: Option<Uuid>,
    /// Whose account it concerns, when it is someone's.
    pub subject: Option<Uuid>,
    /// The booking it concerns.
    pub booking: Option<Uuid>,
    /// The client's address (API events).
    pub ip: Option<IpAddr>,
    /// Anything else worth keeping (never a password or a token).
    pub details: serde_json::Value,
}

impl Event {
    /// An event with no actor, subject, booking, address or details yet.
    pub fn new(action: &'static str, channel: Channel) -> Self {
        Self {
            action,
            channel,
            actor: None,
            subject: None,
            booking: None,
            ip: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Done by `user`, to their own account.
    pub fn by(mut self, user: Uuid) -> Self {
        self.actor = Some(user);
        self.subject.get_or_insert(user);
        self
    }

    /// Concerning `user`'s account.
    pub fn on(mut self, user: Uuid) -> Self {
        self.subject = Some(user);
        self
    }

    /// Concerning `booking`.
    pub fn booking(mut self, booking: Uuid) -> Self {
        self.booking = Some(booking);
        self
    }

    /// From `ip`.
    pub fn from_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// With `details` (a JSON object).
    pub fn details(mut self, details: serde_json::Value) -> Self {
        if details.is_object() {
            self.details = details;
        }
        self
    }
}

/// The insert of one event, its eight parameters numbered from `$first` and bound by
/// [`Event::bind`]. [`record`] runs it alone; a statement that makes the change an event
/// describes may carry it as a data-modifying `WITH` instead (a booking does: one round trip
/// fewer, and the event still commits or rolls back with the change).
pub(crate) fn insert_sql(first: usize) -> String {
    let [id, action, channel, actor, subject, booking, ip, details]: [String; 8] =
        std::array::from_fn(|i| format!("${}", first + i));
    format!(
        "INSERT INTO audit_events
             (id, action, channel, actor_id, subject_id, booking_id, ip, details)
         VALUES ({id}, {action}, {channel}, {actor}, {subject}, {booking}, {ip}::inet, {details})"
    )
}

impl Event {
    /// Binds this event as [`insert_sql`]'s eight parameters, after `query`'s own.
    pub(crate) fn bind(self, query: PgQuery<'_>) -> PgQuery<'_> {
        query
            .bind(Uuid::now_v7())
            .bind(self.action)
            .bind(self.channel.as_str())
            .bind(self.actor)
            .bind(self.subject)
            .bind(self.booking)
            .bind(self.ip.map(|ip| ip.to_string()))
            .bind(self.details)
    }
}

/// Appends `event`, in the caller's transaction when there is one.
pub async fn record(conn: &mut PgConnection, event: Event) -> Result<(), sqlx::Error> {
    static INSERT: LazyLock<String> = LazyLock::new(|| insert_sql(1));
    event
        .bind(sqlx::query(INSERT.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its id.
    pub id: Uuid,
    /// When.
    pub at: Timestamp,
    /// What.
    pub action: String,
    /// Through which channel.
    pub channel: String,
    /// Who.
    pub actor_id: Option<Uuid>,
    /// To whom.
    pub subject_id: Option<Uuid>,
    /// Which booking.
    pub booking_id: Option<Uuid>,
    /// From where.
    pub ip: Option<String>,
    /// The rest.
    pub details: serde_json::Value,
}

type Row = (
    Uuid,
    jiff_sqlx::Timestamp,
    String,
    String,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    serde_json::Value,
);

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// This action, or every action under it (`auth` matches `auth.login.failed`).
    pub action: Option<String>,
    /// Done by this user.
    pub actor: Option<Uuid>,
    /// Concerning this user.
    pub subject: Option<Uuid>,
    /// Concerning this booking.
    pub booking: Option<Uuid>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
}

/// The events matching `filter`, newest first, and how many match in all.
pub async fn list(
    conn: &mut PgConnection,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Entry>, i64), sqlx::Error> {
    const WHERE: &str = "WHERE ($1::text IS NULL OR action = $1 OR action LIKE $1 || '.%')
          AND ($2::uuid IS NULL OR actor_id = $2)
          AND ($3::uuid IS NULL OR subject_id = $3)
          AND ($4::uuid IS NULL OR booking_id = $4)
          AND ($5::timestamptz IS NULL OR at >= $5)
          AND ($6::timestamptz IS NULL OR at < $6)";
    let action = filter.action.as_deref();
    let since = filter.since.map(ToSqlx::to_sqlx);
    let until = filter.until.map(ToSqlx::to_sqlx);
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, at, action, channel, actor_id, subject_id, booking_id, host(ip), details
         FROM audit_events {WHERE} ORDER BY at DESC, id DESC LIMIT $7 OFFSET $8"
    )))
    .bind(action)
    .bind(filter.actor)
    .bind(filter.subject)
    .bind(filter.booking)
    .bind(since)
    .bind(until)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM audit_events {WHERE}"
    )))
    .bind(action)
    .bind(filter.actor)
    .bind(filter.subject)
    .bind(filter.booking)
    .bind(since)
    .bind(until)
    .fetch_one(&mut *conn)
    .await?;
    let items = rows
        .into_iter()
        .map(
            |(id, at, action, channel, actor_id, subject_id, booking_id, ip, details)| Entry {
                id,
                at: at.to_jiff(),
                action,
                channel,
                actor_id,
                subject_id,
                booking_id,
                ip,
                details,
            },
        )
        .collect();
    Ok((items, total))
}

/// Deletes the events older than `retention`; returns how many.
pub async fn purge(
    conn: &mut PgConnection,
    retention: SignedDuration,
    now: Timestamp,
) -> Result<u64, sqlx::Error> {
    let cutoff = now.checked_sub(retention).unwrap_or(Timestamp::MIN);
    let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
    sqlx::query("SELECT set_config('medsync.audit_purge', 'on', true)")
        .execute(&mut *tx)
        .await?;
    let deleted = sqlx::query("DELETE FROM audit_events WHERE at < $1")
        .bind(cutoff.to_sqlx())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
