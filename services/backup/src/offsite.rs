//! The off-host copy: every backup (and its `.sha256`) uploaded to an S3-compatible bucket when
//! `BACKUP_S3_BUCKET` is set — AWS S3, MinIO, Cloudflare R2, Backblaze B2, Garage, Ceph.
//!
//! Each upload is one `PUT` of a presigned URL (signed with rusty-s3, sent with reqwest, the
//! file streamed with its length), so the credentials need `s3:PutObject` only: a stolen host
//! can neither list nor delete the copies (retention in the bucket belongs to its lifecycle
//! rules, and object lock or versioning makes the copies immutable). Which backups are already
//! off the host is remembered locally (`<file>.uploaded`), not asked of the store, for the
//! same reason; a backup whose upload failed is uploaded at the next run, after a restart too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use medsync_platform::config::{ConfigError, Env, HttpUrl, Secret, Source};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::archive::{self, Backup};

/// How long a presigned URL stays valid: long enough for a large file on a slow link.
const URL_VALIDITY: Duration = Duration::from_secs(6 * 3600);

/// The bucket backups are copied to.
#[derive(Debug, Clone)]
pub struct Offsite {
    bucket: Bucket,
    credentials: Credentials,
    /// `BACKUP_S3_PREFIX` (default `medsync/`): prepended to each file's name.
    prefix: String,
}

impl Offsite {
    /// The variables it is read from.
    pub const VARIABLES: &[&str] = &[
        "BACKUP_S3_BUCKET",
        "BACKUP_S3_ENDPOINT",
        "BACKUP_S3_REGION",
        "BACKUP_S3_PREFIX",
        "BACKUP_S3_PATH_STYLE",
        "BACKUP_S3_ACCESS_KEY_ID",
        "BACKUP_S3_SECRET_ACCESS_KEY",
    ];

    /// `None` when `BACKUP_S3_BUCKET` is unset (no off-host copy); otherwise the endpoint and
    /// both keys are required.
    pub fn from_env<S: Source>(env: &Env<S>) -> Result<Option<Self>, ConfigError> {
        let Some(name) = env.optional::<String>("BACKUP_S3_BUCKET")? else {
            return Ok(None);
        };
        let endpoint: HttpUrl = env.required("BACKUP_S3_ENDPOINT")?;
        let region: String = env.or("BACKUP_S3_REGION", "us-east-1".to_owned())?;
        let path_style: bool = env.or("BACKUP_S3_PATH_STYLE", true)?;
        let style = if path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket =
            Bucket::new(endpoint.0, style, name.clone(), region).map_err(|e| ConfigError {
                var: "BACKUP_S3_BUCKET",
                value: Some(name),
                problem: format!("cannot be used with BACKUP_S3_ENDPOINT ({e})"),
                expected: "a bucket name, and an endpoint URL with a host",
            })?;
        let key: Secret = env.required("BACKUP_S3_ACCESS_KEY_ID")?;
        let secret: Secret = env.required("BACKUP_S3_SECRET_ACCESS_KEY")?;
        let prefix: String = env.or("BACKUP_S3_PREFIX", "medsync/".to_owned())?;
        if prefix.starts_with('/') || prefix.contains("..") {
            return Err(ConfigError {
                var: "BACKUP_S3_PREFIX",
                value: Some(prefix),
                problem: "is not a relative key prefix".to_owned(),
                expected: "a key prefix such as medsync/ or clinic-a/backups/",
            });
        }
        Ok(Some(Self {
            bucket,
            credentials: Credentials::new(key.expose(), secret.expose()),
            prefix,
        }))
    }

    /// The object key of `file`.
    fn key(&self, file: &Path) -> anyhow::Result<String> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .context("a backup file without a name")?;
        Ok(format!("{}{name}", self.prefix))
    }

    /// Uploads `file` to its key: one PUT with its length and content (streamed).
    async fn put(&self, client: &reqwest::Client, file: &Path) -> anyhow::Result<()> {
        let key = self.key(file)?;
        let url = self
            .bucket
            .put_object(Some(&self.credentials), &key)
            .sign(URL_VALIDITY);
        let handle = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("opening {}", file.display()))?;
        let length = handle.metadata().await?.len();
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(handle));
        let response = client
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, length)
            .body(body)
            .send()
            .await
            .with_context(|| format!("uploading {key}"))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let text: String = text.chars().take(300).collect();
            bail!("uploading {key}: the store answered {status}: {text}");
        }
        Ok(())
    }

    /// Uploads every backup in `dir` not yet copied (oldest first), each with its checksum
    /// file, and marks it copied. Returns how many were uploaded; stops at the first failure
    /// (the rest wait for the next run).
    pub async fn upload_pending(
        &self,
        client: &reqwest::Client,
        dir: &Path,
    ) -> anyhow::Result<usize> {
        let mut uploaded = 0;
        for backup in archive::list(dir)? {
            let marker = marker_path(&backup);
            if tokio::fs::try_exists(&marker).await.unwrap_or(false) {
                continue;
            }
            let started = Instant::now();
            let outcome = async {
                // The checksum first: a dump in the bucket always has its checksum beside it.
                let checksum = backup.checksum_path();
                if tokio::fs::try_exists(&checksum).await.unwrap_or(false) {
                    self.put(client, &checksum).await?;
                }
                self.put(client, &backup.path).await
            }
            .await;
            if let Err(error) = outcome {
                metrics::counter!("medsync_backup_uploads_total", "outcome" => "failed")
                    .increment(1);
                return Err(error);
            }
            tokio::fs::write(&marker, b"")
                .await
                .with_context(|| format!("writing {}", marker.display()))?;
            metrics::counter!("medsync_backup_uploads_total", "outcome" => "ok").increment(1);
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("medsync_backup_last_upload_timestamp_seconds")
                .set(backup.taken_at.as_second() as f64);
            tracing::info!(
                file = %backup.path.display(),
                key = self.key(&backup.path)?,
                bytes = backup.size,
                seconds = started.elapsed().as_secs_f64(),
                "backup copied off the host"
            );
            uploaded += 1;
        }
        Ok(uploaded)
    }
}

/// The file that says `backup` is in the bucket.
pub fn marker_path(backup: &Backup) -> PathBuf {
    let mut name = backup.path.as_os_str().to_owned();
    name.push(".uploaded");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&'static str, &'static str)]) -> Env<HashMap<&'static str, &'static str>> {
        Env::new(pairs.iter().copied().collect())
    }

    const FULL: &[(&str, &str)] = &[
        ("BACKUP_S3_BUCKET", "clinic-backups"),
        (
            "BACKUP_S3_ENDPOINT",
            "https://s3.eu-central-1.amazonaws.com",
        ),
        ("BACKUP_S3_REGION", "eu-central-1"),
        ("BACKUP_S3_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("BACKUP_S3_SECRET_ACCESS_KEY", "s3cret-key"),
    ];

    #[test]
    fn off_without_a_bucket_and_complete_with_one() {
        assert!(Offsite::from_env(&env(&[])).unwrap().is_none());
        let offsite = Offsite::from_env(&env(FULL)).unwrap().unwrap();
        let key = offsite
            .key(Path::new("/backups/medsync-20261206T120000Z.dump"))
            .unwrap();
        assert_eq!(key, "medsync/medsync-20261206T120000Z.dump");
        let url = offsite
            .bucket
            .put_object(Some(&offsite.credentials), &key)
            .sign(URL_VALIDITY);
        assert!(
            url.as_str().starts_with(
                "https://s3.eu-central-1.amazonaws.com/clinic-backups/medsync/medsync-20261206T120000Z.dump?"
            ),
            "{url}"
        );
        assert!(url.as_str().contains("X-Amz-Signature="), "{url}");
        assert!(!url.as_str().contains("s3cret"), "{url}");
        assert!(!format!("{offsite:?}").contains("s3cret-key"));
    }

    #[test]
    fn a_bucket_without_its_endpoint_keys_or_with_a_bad_prefix_is_refused() {
        for missing in [
            "BACKUP_S3_ENDPOINT",
            "BACKUP_S3_ACCESS_KEY_ID",
            "BACKUP_S3_SECRET_ACCESS_KEY",
        ] {
            let pairs: Vec<_> = FULL
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = Offsite::from_env(&env(&pairs)).unwrap_err();
            assert_eq!(err.var, missing);
        }
        let mut pairs = FULL.to_vec();
        pairs.push(("BACKUP_S3_PREFIX", "../elsewhere/"));
        assert_eq!(
            Offsite::from_env(&env(&pairs)).unwrap_err().var,
            "BACKUP_S3_PREFIX"
        );
        let mut pairs = FULL.to_vec();
        pairs.retain(|(k, _)| *k != "BACKUP_S3_ENDPOINT");
        pairs.push(("BACKUP_S3_ENDPOINT", "s3.example.com"));
        assert_eq!(
            Offsite::from_env(&env(&pairs)).unwrap_err().var,
            "BACKUP_S3_ENDPOINT"
        );
    }
}
