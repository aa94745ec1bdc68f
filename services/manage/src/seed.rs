//! `manage seed`: the demo clinic. Idempotent: it upserts by natural keys (specialty slug, doctor
//! name, admin email), so running it on every start changes nothing after the first time.

use anyhow::Context as _;
use jiff::civil::{Time, time};
use medsync_domain::catalog::{self, WeeklyHours};
use medsync_domain::users::{self, AdminError, AdminMode, AdminOutcome, Email};
use medsync_platform::config::{ConfigError, DatabaseConfig, Env, FromEnv, Secret, Source};

/// The admin account to create or promote.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `ADMIN_EMAIL`.
    pub email: Email,
    /// `ADMIN_PASSWORD`: at least 12 characters.
    pub password: Secret,
    /// `ADMIN_NAME` (default "Clinic administrator").
    pub name: String,
}

struct AdminPassword(Secret);

impl FromEnv for AdminPassword {
    const EXPECTED: &'static str = "a password of 12 to 128 characters";
    const SECRET: bool = true;
    fn parse_env(raw: &str) -> Result<Self, String> {
        match raw.chars().count() {
            12..=128 => Ok(Self(Secret::from(raw))),
            n => Err(format!("{n} characters")),
        }
    }
}

impl AdminConfig {
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &["ADMIN_EMAIL", "ADMIN_PASSWORD", "ADMIN_NAME"];

    /// Both `ADMIN_EMAIL` and `ADMIN_PASSWORD`, or neither (no admin is seeded).
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Option<Self>, ConfigError> {
        let email: Option<Email> = env.optional("ADMIN_EMAIL")?;
        let password: Option<AdminPassword> = env.optional("ADMIN_PASSWORD")?;
        let name = env.or("ADMIN_NAME", "Clinic administrator".to_owned())?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(Some(Self {
                email,
                password: password.0,
                name,
            })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError {
                var: "ADMIN_PASSWORD",
                value: None,
                problem: "is not set but ADMIN_EMAIL is".to_owned(),
                expected: AdminPassword::EXPECTED,
            }),
            (None, Some(_)) => Err(ConfigError {
                var: "ADMIN_EMAIL",
                value: None,
                problem: "is not set but ADMIN_PASSWORD is".to_owned(),
                expected: Email::EXPECTED,
            }),
        }
    }
}

impl AdminConfig {
    /// `ADMIN_EMAIL` and `ADMIN_PASSWORD`, both required.
    pub fn required<S: Source>(env: &Env<S>) -> Result<Self, ConfigError> {
        match Self::from_env(env)? {
            Some(admin) => Ok(admin),
            None => Err(ConfigError {
                var: "ADMIN_EMAIL",
                value: None,
                problem: "is not set".to_owned(),
                expected: <Email as FromEnv>::EXPECTED,
            }),
        }
    }
}

/// What the seed left in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Specialties in the catalog.
    pub specialties: usize,
    /// Doctors seeded.
    pub doctors: usize,
    /// Whether an admin was created or updated.
    pub admin: bool,
}

const SPECIALTIES: &[(&str, &str, &str)] = &[
    (
        "general-practice",
        "General practice",
        "First visits, check-ups, referrals.",
    ),
    (
        "cardiology",
        "Cardiology",
        "Heart and blood vessels: ECG, blood pressure, follow-ups.",
    ),
    (
        "dermatology",
        "Dermatology",
        "Skin, hair and nails; mole checks.",
    ),
    (
        "pediatrics",
        "Pediatrics",
        "Children from birth to 17: check-ups and vaccinations.",
    ),
    (
        "neurology",
        "Neurology",
        "Headaches, dizziness, nerve and sleep problems.",
    ),
];

struct DemoDoctor {
    name: &'static str,
    bio: &'static str,
    slot_minutes: i32,
    specialties: &'static [&'static str],
    /// (ISO weekdays, start, end) in the clinic's local time.
    hours: &'static [(&'static [i16], Time, Time)],
}

const WEEKDAYS: &[i16] = &[1, 2, 3, 4, 5];

const DOCTORS: &[DemoDoctor] = &[
    DemoDoctor {
        name: "Dr. Anna Keller",
        bio: "General practitioner, 15 years in family medicine.",
        slot_minutes: 20,
        specialties: &["general-practice"],
        hours: &[
            (WEEKDAYS, time(8, 0, 0, 0), time(12, 0, 0, 0)),
            (WEEKDAYS, time(13, 0, 0, 0), time(16, 0, 0, 0)),
        ],
    },
    DemoDoctor {
        name: "Dr. Marco Rossi",
        bio: "Cardiologist; echocardiography and hypertension.",
        slot_minutes: 30,
        specialties: &["cardiology"],
        hours: &[
            (&[1, 3, 5], time(9, 0, 0, 0), time(13, 0, 0, 0)),
            (&[2, 4], time(14, 0, 0, 0), time(18, 0, 0, 0)),
        ],
    },
    DemoDoctor {
        name: "Dr. Leila Haddad",
        bio: "Dermatologist; skin cancer screening.",
        slot_minutes: 30,
        specialties: &["dermatology"],
        hours: &[(&[2, 3, 4], time(10, 0, 0, 0), time(17, 0, 0, 0))],
    },
    DemoDoctor {
        name: "Dr. Tom Becker",
        bio: "Pediatrician and general practitioner.",
        slot_minutes: 20,
        specialties: &["pediatrics", "general-practice"],
        hours: &[
            (WEEKDAYS, time(8, 30, 0, 0), time(12, 30, 0, 0)),
            (&[6], time(9, 0, 0, 0), time(12, 0, 0, 0)),
        ],
    },
    DemoDoctor {
        name: "Dr. Sofia Nilsson",
        bio: "Neurologist; migraine and sleep disorders.",
        slot_minutes: 45,
        specialties: &["neurology"],
        hours: &[(&[1, 2, 4], time(9, 0, 0, 0), time(15, 0, 0, 0))],
    },
];

/// Upserts the demo clinic (and the admin, when configured) in one transaction. Concurrent
/// runs are serialised by a transaction-scoped advisory lock.
pub async fn run(database: &DatabaseConfig, admin: Option<&AdminConfig>) -> anyhow::Result<Report> {
    let pool = medsync_platform::db::pool(database);
    let report = seed(&pool, admin).await;
    pool.close().await;
    report
}

/// [`run`] on an existing pool.
pub async fn seed(pool: &sqlx::PgPool, admin: Option<&AdminConfig>) -> anyhow::Result<Report> {
    let admin_hash = match admin {
        Some(admin) => Some(
            medsync_domain::password::hash(admin.password.expose().to_owned())
                .await
                .context("hashing ADMIN_PASSWORD")?,
        ),
        None => None,
    };
    let mut tx = pool.begin().await.context("connecting to PostgreSQL")?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('medsync.seed'))")
        .execute(&mut *tx)
        .await?;

    let mut specialty_ids = std::collections::HashMap::new();
    for (slug, name, description) in SPECIALTIES {
        let specialty = catalog::upsert_specialty(&mut tx, slug, name, description)
            .await
            .with_context(|| format!("specialty {slug}"))?;
        specialty_ids.insert(*slug, specialty.id);
    }
    for doctor in DOCTORS {
        let specialties: Vec<_> = doctor
            .specialties
            .iter()
            .filter_map(|slug| specialty_ids.get(slug).copied())
            .collect();
        let week: Vec<WeeklyHours> = doctor
            .hours
            .iter()
            .flat_map(|(days, starts_at, ends_at)| {
                days.iter().map(|&weekday| WeeklyHours {
                    weekday,
                    starts_at: *starts_at,
                    ends_at: *ends_at,
                })
            })
            .collect();
        catalog::upsert_doctor(
            &mut tx,
            doctor.name,
            doctor.bio,
            doctor.slot_minutes,
            &specialties,
            &week,
        )
        .await
        .with_context(|| format!("doctor {}", doctor.name))?;
    }
    if let (Some(admin), Some(hash)) = (admin, admin_hash) {
        let email = admin.email.as_str();
        match users::ensure_admin(
            &mut tx,
            &admin.email,
            &admin.name,
            &hash,
            AdminMode::CreateOnly,
        )
        .await
        {
            Ok(AdminOutcome::Created(id)) => tracing::info!(%id, email, "admin account created"),
            Ok(outcome) => tracing::info!(?outcome, email, "admin account ready"),
            // Not a reason to fail a deploy: the clinic is seeded, the admin is not promoted.
            Err(AdminError::NotAnAdmin(role)) => tracing::warn!(
                email,
                ?role,
                "ADMIN_EMAIL belongs to an account that is not an admin: it was not promoted \
                 (check it is yours, then: manage create-admin --promote)"
            ),
            Err(AdminError::Database(e)) => {
                return Err(anyhow::Error::from(e).context("admin account"));
            }
        }
    } else {
        tracing::info!("ADMIN_EMAIL/ADMIN_PASSWORD not set: no admin seeded");
    }
    tx.commit().await?;
    Ok(Report {
        specialties: SPECIALTIES.len(),
        doctors: DOCTORS.len(),
        admin: admin.is_some(),
    })
}
