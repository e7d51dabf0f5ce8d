//! The instance file server (v1's Thin "file viewer"): `GET /droplets/<staged>/<path>` serves
//! files of the instance directories read-only, behind HTTP basic auth with credentials
//! generated at start (returned in `dea.find.droplet` replies). A directory answers with a
//! listing, one `name  size` line per entry as vmc `files` prints it. No request can leave the
//! instances directory: `..`, absolute parts and symlinks resolving outside answer 403.

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cfsim_component::status::{protect, Credentials};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running file server.
pub struct FileServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// The basic-auth credentials it accepts.
    pub credentials: Credentials,
    stop: watch::Sender<bool>,
}

impl FileServer {
    /// Binds `host:port` (0 = any) and serves `root` (the instances directory).
    pub async fn start(host: &str, port: u16, root: PathBuf) -> std::io::Result<FileServer> {
        std::fs::create_dir_all(&root)?;
        let listener = TcpListener::bind((host, port)).await?;
        let addr = listener.local_addr()?;
        let credentials = Credentials {
            user: cfsim_component::identity::secure_uuid(),
            password: cfsim_component::identity::secure_uuid(),
        };
        let app = Router::new()
            .route("/droplets", get(serve_root))
            .route("/droplets/", get(serve_root))
            .route("/droplets/{*path}", get(serve_path))
            .with_state(Arc::new(root));
        let app = protect(app, credentials.clone());
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "file server stopped");
            }
        });
        Ok(FileServer {
            addr,
            credentials,
            stop,
        })
    }

    /// Stops accepting requests.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve_root(State(root): State<Arc<PathBuf>>) -> Response {
    serve(&root, "").await
}

async fn serve_path(State(root): State<Arc<PathBuf>>, UrlPath(path): UrlPath<String>) -> Response {
    serve(&root, &path).await
}

async fn serve(root: &Path, request: &str) -> Response {
    let Some(target) = resolve(root, request) else {
        return (StatusCode::FORBIDDEN, "Forbidden\n").into_response();
    };
    let Ok(meta) = tokio::fs::metadata(&target).await else {
        return (StatusCode::NOT_FOUND, "Not Found\n").into_response();
    };
    if meta.is_dir() {
        return listing(&target).await;
    }
    match tokio::fs::read(&target).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "Not Found\n").into_response(),
    }
}

/// The file for a request path, or `None` if the path climbs or resolves outside `root`.
pub fn resolve(root: &Path, request: &str) -> Option<PathBuf> {
    let mut path = root.to_owned();
    for component in Path::new(request).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    let canonical_root = root.canonicalize().ok()?;
    match path.canonicalize() {
        Ok(real) if real.starts_with(&canonical_root) => Some(real),
        Ok(_) => None,
        // Missing files answer 404 later; the lexical check above already held.
        Err(_) => Some(path),
    }
}

async fn listing(dir: &Path) -> Response {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return (StatusCode::NOT_FOUND, "Not Found\n").into_response();
    };
    let mut lines = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let line = match entry.metadata().await {
            Ok(m) if m.is_dir() => format!("{:<40}{:>10}", format!("{name}/"), "-"),
            Ok(m) => format!("{name:<40}{:>10}", human_size(m.len())),
            Err(_) => continue,
        };
        lines.push(line);
    }
    lines.sort();
    let mut body = lines.join("\n");
    body.push('\n');
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// `417B`, `1.2K`, `3.4M` as vmc prints sizes.
fn human_size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K {
        format!("{bytes}B")
    } else if b < K * K {
        format!("{:.1}K", b / K)
    } else if b < K * K * K {
        format!("{:.1}M", b / (K * K))
    } else {
        format!("{:.1}G", b / (K * K * K))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("instances");
        std::fs::create_dir_all(root.join("a/logs")).unwrap();
        std::fs::write(root.join("a/logs/stdout.log"), "hi").unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("a/leak")).unwrap();
        assert!(resolve(&root, "a/logs/stdout.log").is_some());
        assert!(resolve(&root, "a/../../secret").is_none());
        assert!(resolve(&root, "a/leak").is_none());
        assert!(resolve(&root, "a/missing").is_some());
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(417), "417B");
        assert_eq!(human_size(2048), "2.0K");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0M");
    }
}
