//! Password hashing with Argon2id (the crate's defaults: 19 MiB, 2 passes, OWASP's minimum),
//! bounded so that a burst of sign-ins cannot take the process down.
//!
//! Each hash needs 19 MiB of memory and a core for tens of milliseconds. Run unbounded on the
//! blocking pool, two hundred simultaneous sign-ins meant two hundred threads and 3.7 GB, and
//! the memory never came back (glibc keeps freed blocks of that size in its per-thread arenas).
//! A [`Hasher`] therefore runs at most `concurrency` hashes at once (by default one per core
//! the process may use), each in one of `concurrency` memory areas allocated once and reused
//! (`Argon2::hash_password_into_with_memory`), so the hashing memory is fixed at
//! `concurrency × 19 MiB` whatever the load. A caller waits at most `wait` for a free slot and
//! then gets [`HashError::Busy`] (the api answers 503 with `Retry-After`): under a storm some
//! sign-ins are refused quickly instead of all of them timing out.
//!
//! The hashes are ordinary PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$…`), verified with the
//! parameters stored in each one, so hashes made by other Argon2 implementations (or by older
//! defaults) still verify.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

/// The largest memory cost a stored hash may ask for (256 MiB): a hash asking for more is
/// treated as not matching rather than allowed to exhaust memory.
const MAX_BLOCKS: usize = 256 * 1024;

/// Hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed busy for the whole wait: try again shortly.
    #[error("password hashing is busy; try again shortly")]
    Busy,
    /// The blocking task died, or the hasher refused its input.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Hashes and verifies passwords, at most `concurrency` at a time, in reused memory. Cheap to
/// clone (the clones share the slots).
#[derive(Debug, Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slots: Arc<Semaphore>,
    /// Memory areas not in use (at most one per slot).
    memory: Mutex<Vec<Vec<Block>>>,
    wait: Duration,
    concurrency: usize,
}

impl Hasher {
    /// At most `concurrency` hashes at once (at least 1); a caller waits up to `wait` for a
    /// slot.
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(concurrency)),
                memory: Mutex::new(Vec::with_capacity(concurrency)),
                wait,
                concurrency,
            }),
        }
    }

    /// One slot per core this process may use (its CPU quota in a container).
    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    }

    /// How many hashes run at once at most.
    pub fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// The PHC string (`$argon2id$v=19$...`) of `password`, with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |memory| hash_with(memory, password.as_bytes()))
            .await?
    }

    /// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashError> {
        self.run(move |memory| verify_with(memory, password.as_bytes(), &stored))
            .await
    }

    /// Runs `work` on the blocking pool in a free slot with that slot's memory. The slot and
    /// the memory go with the blocking task, so a caller that gives up (a client that
    /// disconnects) does not free a slot whose hash is still running.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let slot = tokio::time::timeout(self.inner.wait, self.inner.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                metrics::counter!("medsync_password_hash_busy_total").increment(1);
                HashError::Busy
            })?
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = inner
                .memory
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let result = work(&mut memory);
            inner
                .memory
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(slot);
            result
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

/// `memory` made at least `blocks` long (allocated once per slot, then reused).
fn blocks(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    &mut memory[..blocks]
}

fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = Salt::generate();
    let mut out = [0_u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Vec<Block>, password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.block_count() > MAX_BLOCKS {
        tracing::warn!(
            m_cost = params.m_cost(),
            "a stored password hash asks for too much memory: treated as not matching"
        );
        return false;
    }
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0_u8; expected.len()];
    argon
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .is_ok()
        // `Output`'s equality is constant-time.
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

static DEFAULT: std::sync::LazyLock<Hasher> =
    std::sync::LazyLock::new(|| Hasher::new(Hasher::cores(), Duration::from_secs(60)));

/// [`Hasher::hash`] on a process-wide hasher (one slot per core, a patient wait): for
/// one-shot commands such as `manage`.
pub async fn hash(password: String) -> Result<String, HashError> {
    DEFAULT.hash(password).await
}

/// [`Hasher::verify`] on the process-wide hasher of [`hash`].
pub async fn verify(password: String, stored: String) -> Result<bool, HashError> {
    DEFAULT.verify(password, stored).await
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".to_owned(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!verify("wrong".to_owned(), stored).await.unwrap());
        assert!(
            !verify("x".to_owned(), "not a hash".to_owned())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_in_reused_memory_agree_with_the_argon2_crate_both_ways() {
        let hasher = Hasher::new(1, Duration::from_secs(10));
        // Several rounds through the one reused memory area.
        for round in 0..3 {
            let password = format!("password number {round}");
            let ours = hasher.hash(password.clone()).await.unwrap();
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            );
            let theirs = Argon2::default()
                .hash_password(password.as_bytes())
                .unwrap()
                .to_string();
            assert!(
                hasher
                    .verify(password.clone(), theirs.clone())
                    .await
                    .unwrap()
            );
            assert!(!hasher.verify(format!("{password}!"), theirs).await.unwrap());
        }
        // Other parameters than ours (a smaller, older hash) verify with their own.
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, Some(32)).unwrap(),
        )
        .hash_password(b"older")
        .unwrap()
        .to_string();
        assert!(hasher.verify("older".to_owned(), small).await.unwrap());
        assert_eq!(
            hasher.inner.memory.lock().unwrap().len(),
            1,
            "one area, reused"
        );
    }

    #[tokio::test]
    async fn a_hash_asking_for_too_much_memory_does_not_match() {
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$\
                      RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(PasswordHash::new(greedy).is_ok(), "a well-formed hash");
        assert!(
            !Hasher::new(1, Duration::from_secs(1))
                .verify("x".to_owned(), greedy.to_owned())
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_concurrency_hashes_run_and_the_rest_are_refused_after_the_wait() {
        let hasher = Hasher::new(1, Duration::from_millis(1));
        let started = Instant::now();
        let (a, b, c) = tokio::join!(
            hasher.hash("one".to_owned()),
            hasher.hash("two".to_owned()),
            hasher.hash("three".to_owned()),
        );
        let outcomes = [a, b, c];
        let hashed = outcomes.iter().filter(|r| r.is_ok()).count();
        let busy = outcomes
            .iter()
            .filter(|r| matches!(r, Err(HashError::Busy)))
            .count();
        assert_eq!((hashed, busy), (1, 2), "{outcomes:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Once the slot is free again, the next caller gets it.
        assert!(hasher.hash("four".to_owned()).await.is_ok());
    }
}
