//! The status HTTP server every component runs: `/varz` and `/healthz` behind HTTP basic
//! auth with credentials generated at start (as `VCAP::Component` did, which announced them in
//! `vcap.component.announce`), plus any routes the component adds (the router adds `/health`
//! and `/routes`).
//!
//! `/healthz` answers `ok` and is protected by default, as in VCAP; gorouter serves it open,
//! so a component can ask for that with [`StatusOptions::open_healthz`].

use crate::config::StatusConfig;
use crate::identity::{secure_uuid, Identity};
use crate::varz::{self, VarzSource};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The body of a healthy `/healthz`.
pub const HEALTHY: &str = "ok\n";

/// HTTP basic-auth credentials for the status endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    /// The configured credentials, or fresh random ones (VCAP: `[secure_uuid, secure_uuid]`).
    pub fn from_config(config: &StatusConfig) -> Self {
        Credentials {
            user: config.user.clone().unwrap_or_else(secure_uuid),
            password: config.password.clone().unwrap_or_else(secure_uuid),
        }
    }

    /// `[user, password]` as announced.
    pub fn pair(&self) -> [String; 2] {
        [self.user.clone(), self.password.clone()]
    }

    /// Whether the request's `Authorization: Basic` header carries these credentials.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let Some(encoded) = value.to_str().ok().and_then(|v| v.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let expected = format!("{}:{}", self.user, self.password);
        decoded == expected.as_bytes()
    }

    /// The `Authorization` header value for these credentials (for clients and tests).
    pub fn header_value(&self) -> String {
        let raw = format!("{}:{}", self.user, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Wraps `router` so every route in it requires `credentials`.
pub fn protect(router: Router, credentials: Credentials) -> Router {
    router.layer(middleware::from_fn_with_state(
        Arc::new(credentials),
        require_basic_auth,
    ))
}

async fn require_basic_auth(
    State(credentials): State<Arc<Credentials>>,
    request: Request,
    next: Next,
) -> Response {
    if credentials.accepts(request.headers()) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"Restricted\"")],
        "401 Unauthorized\n",
    )
        .into_response()
}

/// Options of the status server.
#[derive(Clone, Default)]
pub struct StatusOptions {
    /// Serve `/healthz` without authentication (gorouter style).
    pub open_healthz: bool,
    /// Routes the component adds (protect them with [`protect`] if they need auth).
    pub extra_routes: Option<Router>,
}

/// A running status server.
pub struct StatusServer {
    /// The bound address (the announced `host` is `<local_host>:<port>`).
    pub addr: SocketAddr,
    /// The credentials it accepts.
    pub credentials: Credentials,
    stop: watch::Sender<bool>,
}

impl StatusServer {
    /// Binds and serves `/varz`, `/healthz` and the extra routes.
    pub async fn start(
        config: &StatusConfig,
        credentials: Credentials,
        identity: Identity,
        varz: VarzSource,
        options: StatusOptions,
    ) -> std::io::Result<StatusServer> {
        let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
        let addr = listener.local_addr()?;
        let status_host = format!("{}:{}", identity.host, addr.port());
        let varz_route = get(move || {
            let doc = varz::document(&identity, &status_host, varz());
            async move { axum::Json(doc) }
        });
        let healthz = Router::new().route("/healthz", get(|| async { HEALTHY }));
        let mut protected = Router::new().route("/varz", varz_route);
        let mut open = Router::new();
        if options.open_healthz {
            open = open.merge(healthz);
        } else {
            protected = protected.merge(healthz);
        }
        let mut app = open.merge(protect(protected, credentials.clone()));
        if let Some(extra) = options.extra_routes {
            app = app.merge(extra);
        }
        let (stop, mut stopped) = watch::channel(false);
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "status server stopped");
            }
        });
        tracing::info!(%addr, "status server listening");
        Ok(StatusServer {
            addr,
            credentials,
            stop,
        })
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_round_trips() {
        let c = Credentials {
            user: "u".into(),
            password: "p".into(),
        };
        let mut h = HeaderMap::new();
        assert!(!c.accepts(&h));
        h.insert(header::AUTHORIZATION, c.header_value().parse().unwrap());
        assert!(c.accepts(&h));
        h.insert(header::AUTHORIZATION, "Basic dTp4".parse().unwrap());
        assert!(!c.accepts(&h));
    }

    #[test]
    fn generated_credentials_differ() {
        let a = Credentials::from_config(&StatusConfig::default());
        let b = Credentials::from_config(&StatusConfig::default());
        assert_ne!(a, b);
        assert_eq!(a.user.len(), 32);
    }
}
