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

fn answer(seen: u64) -> Arc<Answer> {
    Arc::new(Answer::new(b"[]".to_vec(), None, seen))
}

#[test]
fn an_announcement_after_the_ticket_retires_the_answer_and_only_its_doctors() {
    let cache = SlotsCache::new(1 << 20);
    let key = |doctor| Key {
        doctor,
        from: Timestamp::UNIX_EPOCH,
        to: Timestamp::MAX,
    };
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(cache.ticket().is_none(), "not listening: nothing kept");
    cache.set_listening(true);
    let ticket = cache.ticket().unwrap();
    cache.keep(key(a), answer(ticket));
    cache.keep(key(b), answer(ticket));
    assert!(cache.get(&key(a)).is_some());
    cache.announced(&a.to_string());
    assert!(cache.get(&key(a)).is_none(), "a changed after the ticket");
    assert!(cache.get(&key(b)).is_some(), "b did not");
    // Made after the announcement: kept.
    cache.keep(key(a), answer(cache.ticket().unwrap()));
    assert!(cache.get(&key(a)).is_some());
    cache.announced("*");
    assert!(cache.get(&key(a)).is_none() && cache.get(&key(b)).is_none());
    let ticket = cache.ticket().unwrap();
    cache.keep(key(b), answer(ticket));
    cache.set_listening(false);
    assert!(
        cache.get(&key(b)).is_none(),
        "not listening: nothing served"
    );
    assert!(cache.ticket().is_none());
    cache.set_listening(true);
    cache.keep(key(b), answer(ticket));
    assert!(
        cache.get(&key(b)).is_none(),
        "made before a reconnection: announcements may have been missed"
    );
}

#[test]
fn an_answer_ends_when_its_first_slot_begins() {
    let cache = SlotsCache::new(1 << 20);
    cache.set_listening(true);
    let key = Key {
        doctor: Uuid::now_v7(),
        from: Timestamp::UNIX_EPOCH,
        to: Timestamp::MAX,
    };
    let begun = Timestamp::now() - SignedDuration::from_millis(1);
    let ticket = cache.ticket().unwrap();
    cache.keep(
        key,
        Arc::new(Answer::new(b"[]".to_vec(), Some(begun), ticket)),
    );
    assert!(cache.get(&key).is_none());
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    cache.keep(
        key,
        Arc::new(Answer::new(b"[]".to_vec(), Some(later), ticket)),
    );
    assert!(cache.get(&key).is_some());
}

#[test]
fn off_keeps_nothing() {
    let cache = SlotsCache::new(0);
    cache.set_listening(true);
    assert!(cache.ticket().is_none() && !cache.is_listening());
}
