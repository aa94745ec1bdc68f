//! The cache's bookkeeping, without a database.

use super::*;

fn headers(accept: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_str(accept).unwrap(),
    );
    h
}

#[test]
fn gzip_is_taken_only_when_accepted() {
    assert!(accepts_gzip(&headers("gzip, deflate, br")));
    assert!(accepts_gzip(&headers("br;q=1.0, GZIP;q=0.5")));
    assert!(!accepts_gzip(&headers("gzip;q=0")));
    assert!(!accepts_gzip(&headers("gzip;q=0.000")));
    assert!(!accepts_gzip(&headers("deflate, br")));
    assert!(!accepts_gzip(&headers("gzip;q=nonsense")));
    assert!(!accepts_gzip(&HeaderMap::new()));
}

fn answer(cache: &SlotsCache, first_slot: Option<Timestamp>) -> Arc<Answer> {
    Arc::new(Answer::new(b"[]".to_vec(), first_slot, cache.ticket()))
}

fn key(doctor: Uuid) -> Key {
    Key {
        doctor,
        from: Timestamp::UNIX_EPOCH,
        to: Timestamp::MAX,
    }
}

#[test]
fn an_announcement_after_the_ticket_retires_the_answer_and_only_its_doctors() {
    let cache = SlotsCache::new(1 << 20);
    let changes = cache.changes().unwrap();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(cache.ticket().is_none(), "not listening: nothing kept");
    cache.keep(key(a), answer(&cache, None));
    changes.set_listening(true);
    assert!(
        cache.get(&key(a)).is_none(),
        "made without a ticket: not kept"
    );
    cache.keep(key(a), answer(&cache, None));
    cache.keep(key(b), answer(&cache, None));
    assert!(cache.get(&key(a)).is_some());
    changes.announced(&a.to_string());
    assert!(cache.get(&key(a)).is_none(), "a changed after the ticket");
    assert!(cache.get(&key(b)).is_some(), "b did not");
    cache.changed(b);
    assert!(cache.get(&key(b)).is_none(), "changed here");
    changes.set_listening(false);
    assert!(cache.ticket().is_none() && !cache.is_listening());
}

#[test]
fn an_answer_ends_when_its_first_slot_begins() {
    let cache = SlotsCache::new(1 << 20);
    cache.changes().unwrap().set_listening(true);
    let doctor = Uuid::now_v7();
    let begun = Timestamp::now() - SignedDuration::from_millis(1);
    cache.keep(key(doctor), answer(&cache, Some(begun)));
    assert!(cache.get(&key(doctor)).is_none());
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    cache.keep(key(doctor), answer(&cache, Some(later)));
    assert!(cache.get(&key(doctor)).is_some());
}

#[test]
fn off_keeps_nothing() {
    let cache = SlotsCache::new(0);
    assert!(cache.changes().is_none() && cache.ticket().is_none() && !cache.is_listening());
}
