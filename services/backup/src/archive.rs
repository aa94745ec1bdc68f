//! Backup files: taking one with `pg_dump`, listing them, and checking one before a restore.
//!
//! A backup is `medsync-<UTC time>.dump` (PostgreSQL's custom format: compressed, restorable
//! table by table) beside `medsync-<UTC time>.dump.sha256` (`sha256sum -c` reads it). Both are
//! written under a `.partial-` name, flushed to disk, and renamed into place only once the dump
//! has been read back whole, so a crash, a full disk or a dump that failed half-way never
//! leaves a file that looks like a backup.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt as _;
use tokio::process::Command;

use crate::pg::PgTarget;

const PREFIX: &str = "medsync-";
const SUFFIX: &str = ".dump";
const PARTIAL: &str = ".partial-";

/// One backup file in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Its path.
    pub path: PathBuf,
    /// When it was taken (from its name).
    pub taken_at: Timestamp,
    /// Its size in bytes.
    pub size: u64,
}

impl Backup {
    /// Where its checksum is kept.
    pub fn checksum_path(&self) -> PathBuf {
        checksum_path(&self.path)
    }
}

fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// The file name of a backup taken at `at`, e.g. `medsync-20261206T020000Z.dump`.
pub fn file_name(at: Timestamp) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.strftime("%Y%m%dT%H%M%SZ"))
}

/// The time in a backup's file name; `None` for any other file.
pub fn taken_at(name: &str) -> Option<Timestamp> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// The backups in `dir`, oldest first. Files being written (`.partial-*`) and anything else
/// are ignored.
pub fn list(dir: &Path) -> anyhow::Result<Vec<Backup>> {
    let mut backups = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(at) = name.to_str().and_then(taken_at) else {
            continue;
        };
        let meta = entry.metadata()?;
        if meta.is_file() {
            backups.push(Backup {
                path: entry.path(),
                taken_at: at,
                size: meta.len(),
            });
        }
    }
    backups.sort_by_key(|b| b.taken_at);
    Ok(backups)
}

/// What taking a backup produced.
#[derive(Debug, Clone)]
pub struct Taken {
    /// The file.
    pub backup: Backup,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// How long the dump took, seconds.
    pub seconds: f64,
}

/// Dumps `target` into `dir` (custom format), reads the dump back whole, writes its checksum,
/// and renames both into place.
pub async fn take(target: &PgTarget, dir: &Path) -> anyhow::Result<Taken> {
    let started = Instant::now();
    let now = Timestamp::now();
    let name = file_name(now);
    let path = dir.join(&name);
    let partial = dir.join(format!("{PARTIAL}{name}"));
    let partial_sum = checksum_path(&partial);
    let outcome = async {
        // create_new: two backups in the same second (a manual one beside the schedule) do
        // not write into each other's file.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        run(
            pg_tool("pg_dump", target)
                .args(["--format=custom", "--compress=6", "--no-password", "--file"])
                .arg(&partial),
            "pg_dump",
        )
        .await?;
        read_whole(&partial).await?;
        let sha256 = sha256_file(&partial).await?;
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        std::fs::write(&partial_sum, format!("{sha256}  {file_name}\n"))?;
        sync(&partial_sum)?;
        sync(&partial)?;
        std::fs::rename(&partial_sum, checksum_path(&path))?;
        std::fs::rename(&partial, &path)?;
        sync(dir)?;
        Ok::<_, anyhow::Error>(sha256)
    }
    .await;
    match outcome {
        Ok(sha256) => Ok(Taken {
            backup: Backup {
                size: std::fs::metadata(&path)?.len(),
                path,
                taken_at: now,
            },
            sha256,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(error) => {
            drop(std::fs::remove_file(&partial));
            drop(std::fs::remove_file(&partial_sum));
            Err(error)
        }
    }
}

/// Why a file cannot be restored.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// No `.sha256` beside it.
    #[error("{0}: no checksum file beside it ({0}.sha256); restore it anyway with --no-checksum")]
    NoChecksum(String),
    /// The checksum does not match.
    #[error(
        "{path}: checksum mismatch (expected {expected}, the file has {actual}): the file is damaged or not the one that was backed up"
    )]
    Mismatch {
        /// The file.
        path: String,
        /// From the `.sha256` file.
        expected: String,
        /// Of the file as it is.
        actual: String,
    },
    /// pg_restore could not read it whole.
    #[error("{path}: not a complete PostgreSQL custom-format archive: {why}")]
    Unreadable {
        /// The file.
        path: String,
        /// pg_restore's message.
        why: String,
    },
}

/// Checks a backup before anything is restored from it: its checksum (unless `checksum` is
/// false), then a full read by `pg_restore` (every table's data decompressed and discarded),
/// so a truncated or corrupted file is refused before the database is touched.
pub async fn verify(path: &Path, checksum: bool) -> anyhow::Result<()> {
    let shown = path.display().to_string();
    if !tokio::fs::try_exists(path).await.unwrap_or(false) {
        bail!("{shown}: no such file");
    }
    if checksum {
        let sum_path = checksum_path(path);
        let Ok(line) = tokio::fs::read_to_string(&sum_path).await else {
            return Err(Refused::NoChecksum(shown).into());
        };
        let expected = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let actual = sha256_file(path).await?;
        if expected != actual {
            return Err(Refused::Mismatch {
                path: shown,
                expected,
                actual,
            }
            .into());
        }
    }
    read_whole(path).await.map_err(|why| {
        Refused::Unreadable {
            path: shown,
            why: format!("{why:#}"),
        }
        .into()
    })
}

/// `pg_restore` turns the whole archive into SQL and throws it away: it fails on a truncated
/// file or a damaged compressed block, which `--list` (the table of contents only) would not
/// notice.
async fn read_whole(path: &Path) -> anyhow::Result<()> {
    run(
        Command::new(tool("pg_restore"))
            .args(["--file=/dev/null"])
            .arg(path),
        "pg_restore",
    )
    .await
}

/// A PostgreSQL client program with the target's libpq variables (the password among them,
/// never on the command line).
pub(crate) fn pg_tool(name: &str, target: &PgTarget) -> Command {
    let mut command = Command::new(tool(name));
    command.env_remove("PGSERVICE").envs(target.libpq_env());
    command
}

/// A client program, found on `PATH` (the backup image's is PostgreSQL's own `bin`).
pub(crate) fn tool(name: &str) -> PathBuf {
    PathBuf::from(name)
}

/// Runs `command`; its stderr becomes the error when it fails.
pub(crate) async fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {what}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("{what} failed ({}): {}", output.status, stderr.trim())
    }
}

/// The SHA-256 of a file, hex.
pub async fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0_u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Flushes a file (or a directory's entries) to disk.
fn sync(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_time_and_nothing_else_is_a_backup() {
        let at: Timestamp = "2026-12-06T02:00:05Z".parse().unwrap();
        let name = file_name(at);
        assert_eq!(name, "medsync-20261206T020005Z.dump");
        assert_eq!(taken_at(&name), Some(at));
        for other in [
            ".partial-medsync-20261206T020005Z.dump",
            "medsync-20261206T020005Z.dump.sha256",
            "medsync-2026.dump",
            "notes.txt",
        ] {
            assert_eq!(taken_at(other), None, "{other}");
        }
    }
}
