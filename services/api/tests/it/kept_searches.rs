//! Kept doctors searches are the computed ones: an api keeping them beside one that does not,
//! on one database, asked the same searches after every kind of change to the catalog, made
//! through the api and by another writer.

use std::time::{Duration, Instant};

use medsync_api::harness::{Api, spawn_with, token};
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

/// The searches one api answers.
async fn searches(api: &Api, specialty: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for path in [
        "/api/v1/doctors".to_owned(),
        "/api/v1/doctors?q=heart".to_owned(),
        "/api/v1/doctors?per_page=1&page=2".to_owned(),
        format!("/api/v1/doctors?specialty_id={specialty}"),
    ] {
        let answer = api.get(&path, None).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
        found.push(answer.body);
    }
    found
}

/// The keeping api's searches equal the computing one's, now (`wait` zero) or within `wait`.
async fn searches_agree(kept: &Api, computing: &Api, specialty: &str, wait: Duration, what: &str) {
    let deadline = Instant::now() + wait;
    loop {
        let want = searches(computing, specialty).await;
        let got = searches(kept, specialty).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {what}: the kept search\n{got:#?}\nis not the computed one\n{want:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[sqlx::test(migrator = "medsync_domain::MIGRATOR")]
async fn kept_searches_equal_computed_ones_after_every_change(
    p: PgPoolOptions,
    o: PgConnectOptions,
) {
    let kept = spawn_with(p.clone(), o.clone(), &[]).await;
    let computing = spawn_with(p, o, &[("LISTS_CACHE_MB", "0")]).await;
    let db = &kept.db;
    let admin = kept.admin().await;
    let t = Some(token(&admin));
    let cardio = kept
        .post(
            "/api/v1/specialties",
            t,
            json!({"slug": "cardiology", "name": "Cardiology"}),
        )
        .await;
    assert_eq!(cardio.status, 201, "{cardio:?}");
    let cardio: Uuid = cardio.body["id"].as_str().unwrap().parse().unwrap();
    let specialty = cardio.to_string();
    let create = |name: &'static str| {
        kept.post(
            "/api/v1/doctors",
            t,
            json!({"name": name, "specialty_ids": [cardio]}),
        )
    };
    let anna: Uuid = create("Dr. Anna Heart").await.body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Answers are kept once the api listens: a doctor added with the trigger off is missed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = searches(&kept, &specialty).await;
        let mut tx = db.begin().await.unwrap();
        sqlx::query("ALTER TABLE doctors DISABLE TRIGGER catalog_changed")
            .execute(&mut *tx)
            .await
            .unwrap();
        let hidden = Uuid::now_v7();
        sqlx::query("INSERT INTO doctors (id, name) VALUES ($1, 'Dr. Hidden Heart')")
            .bind(hidden)
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("ALTER TABLE doctors ENABLE TRIGGER catalog_changed")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let after = searches(&kept, &specialty).await;
        sqlx::query("DELETE FROM doctors WHERE id = $1")
            .bind(hidden)
            .execute(db)
            .await
            .unwrap();
        if after == before {
            break;
        }
        assert!(Instant::now() < deadline, "the api never kept a search");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let wait = Duration::from_secs(5);
    searches_agree(&kept, &computing, &specialty, wait, "a deletion by SQL").await;

    // Through the api: its own changes show in its very next answer.
    assert_eq!(create("Dr. Bert Heart").await.status, 201);
    searches_agree(
        &kept,
        &computing,
        &specialty,
        Duration::ZERO,
        "a doctor added",
    )
    .await;
    let renamed = kept
        .method(
            Method::PATCH,
            &format!("/api/v1/doctors/{anna}"),
            t,
            Some(json!({"name": "Dr. Anna Lung", "specialty_ids": []})),
        )
        .await;
    assert!(renamed.status.is_success(), "{renamed:?}");
    searches_agree(
        &kept,
        &computing,
        &specialty,
        Duration::ZERO,
        "a doctor renamed",
    )
    .await;
    let specialty_renamed = kept
        .method(
            Method::PATCH,
            &format!("/api/v1/specialties/{cardio}"),
            t,
            Some(json!({"name": "Cardiology and vessels"})),
        )
        .await;
    assert!(
        specialty_renamed.status.is_success(),
        "{specialty_renamed:?}"
    );
    searches_agree(
        &kept,
        &computing,
        &specialty,
        Duration::ZERO,
        "a specialty renamed",
    )
    .await;
    let retired = kept
        .method(Method::DELETE, &format!("/api/v1/doctors/{anna}"), t, None)
        .await;
    assert_eq!(retired.status, 204, "{retired:?}");
    searches_agree(
        &kept,
        &computing,
        &specialty,
        Duration::ZERO,
        "a doctor retired",
    )
    .await;

    // By another writer: PostgreSQL's announcement reaches the api.
    for (sql, what) in [
        (
            "INSERT INTO doctors (id, name) VALUES (gen_random_uuid(), 'Dr. Carl Heart')",
            "a doctor added by SQL",
        ),
        (
            "UPDATE doctors SET active = true, bio = 'Back' WHERE name = 'Dr. Anna Lung'",
            "a doctor back by SQL",
        ),
        (
            "INSERT INTO doctor_specialties (doctor_id, specialty_id) SELECT id, $1 FROM doctors WHERE name = 'Dr. Carl Heart'",
            "a specialty given by SQL",
        ),
        (
            "UPDATE specialties SET name = 'Heart' WHERE id = $1",
            "a specialty renamed by SQL",
        ),
        (
            "DELETE FROM doctor_specialties WHERE specialty_id = $1 AND doctor_id = (SELECT id FROM doctors WHERE name = 'Dr. Bert Heart')",
            "a specialty taken by SQL",
        ),
        (
            "UPDATE doctors SET slot_minutes = 45 WHERE name = 'Dr. Carl Heart'",
            "a slot length set by SQL",
        ),
        (
            "DELETE FROM specialties WHERE id = $1",
            "a specialty deleted by SQL",
        ),
    ] {
        let statement = sqlx::query(sql);
        let statement = if sql.contains("$1") {
            statement.bind(cardio)
        } else {
            statement
        };
        statement.execute(db).await.unwrap();
        searches_agree(&kept, &computing, &specialty, wait, what).await;
    }
}
