//! Getting a droplet onto the DEA: the local cache by SHA-1, else an HTTP download of the start
//! message's `executableUri`, streamed through SHA-1 and written to `<sha1>.pending`, renamed to
//! `<sha1>.tgz` only when the hash matches (reference §4.2 step 6; the check is DEA-ng's).
//! Concurrent fetches of one SHA-1 are serialised, so a droplet is downloaded once. Downloads
//! carry the DEA's connection name (`dea-0`) as User-Agent.

use futures::StreamExt;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// Why a droplet could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum DropletError {
    /// The HTTP request failed or answered with an error status.
    #[error("download {uri}: {reason}")]
    Download { uri: String, reason: String },
    /// The bytes do not hash to the announced SHA-1.
    #[error("SHA1 mismatch: expected {expected}, got {actual}")]
    Sha1Mismatch { expected: String, actual: String },
    /// The SHA-1 is not 40 hex characters (it names a cache file, so it must be safe).
    #[error("invalid droplet sha1 {0:?}")]
    BadSha1(String),
    /// Writing the cache failed.
    #[error("droplet cache: {0}")]
    Io(#[from] std::io::Error),
}

/// The droplet cache: `<dir>/<sha1>.tgz`.
#[derive(Debug)]
pub struct DropletCache {
    dir: PathBuf,
    http: reqwest::Client,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl DropletCache {
    /// A cache in `dir` (created on first use), downloading as `user_agent` (the DEA's
    /// connection name, so the CC's flow hops name the DEA).
    pub fn new(dir: PathBuf, user_agent: &str) -> Self {
        DropletCache {
            dir,
            http: cfsim_component::http_client::client(user_agent),
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The path of a verified droplet with this SHA-1, downloading it from `uri` if needed.
    pub async fn fetch(&self, sha1: &str, uri: &str) -> Result<PathBuf, DropletError> {
        if sha1.len() != 40 || !sha1.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DropletError::BadSha1(sha1.to_owned()));
        }
        let sha1 = sha1.to_ascii_lowercase();
        let lock = self.lock_for(&sha1);
        let _guard = lock.lock().await;
        let path = self.dir.join(format!("{sha1}.tgz"));
        if tokio::fs::try_exists(&path).await? {
            return Ok(path);
        }
        tokio::fs::create_dir_all(&self.dir).await?;
        let pending = self.dir.join(format!("{sha1}.pending"));
        let result = self.download(uri, &pending, &sha1).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&pending).await;
        }
        result?;
        tokio::fs::rename(&pending, &path).await?;
        Ok(path)
    }

    fn lock_for(&self, sha1: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().expect("droplet locks");
        locks.entry(sha1.to_owned()).or_default().clone()
    }

    async fn download(&self, uri: &str, to: &Path, sha1: &str) -> Result<(), DropletError> {
        let fail = |reason: String| DropletError::Download {
            uri: uri.to_owned(),
            reason,
        };
        let response = self
            .http
            .get(uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| fail(e.to_string()))?;
        let mut file = tokio::fs::File::create(to).await?;
        let mut hasher = Sha1::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| fail(e.to_string()))?;
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        let actual = hex::encode(hasher.finalize());
        if actual != sha1 {
            return Err(DropletError::Sha1Mismatch {
                expected: sha1.to_owned(),
                actual,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;

    #[tokio::test]
    async fn downloads_carry_the_connection_name() {
        let bytes = b"droplet".to_vec();
        let sha1 = hex::encode(Sha1::digest(&bytes));
        let app = axum::Router::new().route(
            "/droplet",
            get(move |headers: HeaderMap| async move {
                match headers.get("user-agent").map(|v| v.as_bytes()) {
                    Some(b"dea-3") => Ok(bytes),
                    _ => Err(StatusCode::FORBIDDEN),
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/droplet", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let cache = DropletCache::new(dir.path().to_owned(), "dea-3");
        let path = cache.fetch(&sha1, &uri).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"droplet");
    }
}
