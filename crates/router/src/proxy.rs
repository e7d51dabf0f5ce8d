//! The HTTP side: accepts client connections (HTTP/1.1 keep-alive, upgrades), resolves each
//! request to a backend through the route table, forwards it with gorouter's headers over a
//! pooled keep-alive connection, retries on another backend when a connection is refused,
//! and streams both bodies without buffering them.

use crate::access_log::AccessRecord;
use crate::backend::Backend;
use crate::balancer;
use crate::config::RouterConfig;
use crate::connection_pool::{self, Sender};
use crate::exchange::{Exchange, ProxiedBody, Reporter};
use crate::headers::{self, ForwardContext, VCAP_ID_COOKIE};
use crate::request_id::new_request_id;
use crate::route_error::RouteError;
use crate::route_table::{host_without_port, Pool, RouteTable};
use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// What the router answers with: a backend's streamed body or its own small one.
pub type RouterBody = Either<ProxiedBody, Full<Bytes>>;

/// The proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    pub table: Arc<RouteTable>,
    pub config: Arc<RouterConfig>,
    pub reporter: Reporter,
}

/// Which backend a request must go to, when the client asked for one.
enum Target {
    /// Any backend (balancer), preferring the sticky instance if given.
    Any { sticky: Option<String> },
    /// Exactly this instance (`X-Cf-App-Instance`).
    Instance(Arc<Backend>),
}

/// Accepts connections until `stop` turns true; then closes the open ones.
///
/// Connections are served by `proxy_threads` threads, each running its own single-threaded
/// runtime (like nginx's workers): a client connection, the backend connections it uses and
/// every wake-up between them stay on one thread, with no work-stealing scheduler in between.
/// This task only accepts and hands each connection to the next thread in turn.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, mut stop: watch::Receiver<bool>) {
    let threads = proxy.config.proxy_threads();
    let shards: Vec<_> = (0..threads)
        .filter_map(|index| start_shard(index, proxy.clone()))
        .collect();
    let mut next = 0usize;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    if shards.is_empty() {
                        tokio::spawn(serve_connection(stream, remote, proxy.clone()));
                        continue;
                    }
                    match stream.into_std() {
                        Ok(stream) => {
                            let _ = shards[next % shards.len()].send((stream, remote));
                            next = next.wrapping_add(1);
                        }
                        Err(e) => tracing::warn!(error = %e, "accept failed"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
        }
    }
    // Dropping the senders ends each thread's loop; its runtime then drops the connections.
}

type Accepted = (std::net::TcpStream, SocketAddr);

/// Starts proxy thread `index`; `None` (logged) if the thread or its runtime cannot start.
fn start_shard(index: usize, proxy: Arc<Proxy>) -> Option<mpsc::UnboundedSender<Accepted>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Accepted>();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a proxy thread runtime");
            return None;
        }
    };
    let spawned = std::thread::Builder::new()
        .name(format!("router-proxy-{index}"))
        .spawn(move || {
            connection_pool::set_thread_slot(index);
            runtime.block_on(async move {
                while let Some((stream, remote)) = rx.recv().await {
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => {
                            tokio::spawn(serve_connection(stream, remote, proxy.clone()));
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot serve a connection"),
                    }
                }
            });
            runtime.shutdown_background();
        });
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a proxy thread");
            None
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, remote: SocketAddr, proxy: Arc<Proxy>) {
    let service = service_fn(move |req| {
        let proxy = proxy.clone();
        async move { Ok::<_, Infallible>(proxy.handle(req, remote).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        tracing::debug!(error = %e, "client connection ended");
    }
}

impl Proxy {
    /// Handles one client request.
    pub async fn handle(&self, req: Request<Incoming>, remote: SocketAddr) -> Response<RouterBody> {
        let started = Instant::now();
        let mut record = access_record(&req, remote);
        let result = match self.resolve(&req, remote) {
            Ok((pool, target)) => {
                self.forward(req, remote, &pool, target, &mut record, started)
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(response) => response,
            Err(error) => self.error_response(error, record, started),
        }
    }

    fn error_response(
        &self,
        error: RouteError,
        mut record: AccessRecord,
        started: Instant,
    ) -> Response<RouterBody> {
        if error == RouteError::EndpointFailure {
            self.reporter.metrics.record_bad_gateway();
        }
        record.status = error.status().as_u16();
        record.router_error = error.code();
        let body = error.body();
        record.bytes_out = body.len() as u64;
        record.router_time = started.elapsed();
        self.reporter.finish(record, started);
        error.response().map(Either::Right)
    }

    /// Host and headers → the route's pool and the target instance.
    fn resolve(
        &self,
        req: &Request<Incoming>,
        remote: SocketAddr,
    ) -> Result<(Arc<Pool>, Target), RouteError> {
        let host = request_host(req);
        if host.is_empty() || headers::is_ip_text(host_without_port(&host), remote.ip()) {
            return Err(RouteError::EmptyHost);
        }
        let app_instance = match req.headers().get(&headers::X_CF_APP_INSTANCE) {
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(headers::parse_app_instance)
                    .ok_or(RouteError::InvalidAppInstanceHeader)?,
            ),
            None => None,
        };
        let pool = self.table.lookup(&host, req.uri().path());
        if let Some((app, index)) = app_instance {
            let unknown = || RouteError::UnknownInstance {
                host: host.to_string(),
                app: app.clone(),
                index: index.clone(),
            };
            let pool = pool.ok_or_else(unknown)?;
            let backend = balancer::find_app_instance(&pool, &app, &index).ok_or_else(unknown)?;
            return Ok((pool, Target::Instance(backend)));
        }
        let pool = pool.ok_or_else(|| RouteError::UnknownRoute {
            host: host.to_string(),
        })?;
        if pool.is_empty() {
            return Err(RouteError::NoEndpoints {
                host: host.to_string(),
            });
        }
        let sticky = headers::request_cookie(req.headers(), VCAP_ID_COOKIE);
        Ok((pool, Target::Any { sticky }))
    }

    /// Picks a backend that accepts a connection (bounded attempts) and exchanges the request.
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        remote: SocketAddr,
        pool: &Pool,
        target: Target,
        record: &mut AccessRecord,
        started: Instant,
    ) -> Result<Response<RouterBody>, RouteError> {
        let (backend, sender) = self.connect_some_backend(pool, &target, record).await?;
        let in_flight = backend.begin_request();
        let upgrade = headers::is_upgrade(req.headers());
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let request_id = new_request_id();
        record.vcap_request_id = Some(request_id.clone());
        record.backend = Some(backend.clone());
        prepare_request(&mut req, upgrade);
        headers::add_forwarding(
            req.headers_mut(),
            &ForwardContext {
                client_ip: remote.ip(),
                request_id: &request_id,
                backend: &backend,
            },
        );
        let trace = req
            .headers()
            .get(&headers::X_VCAP_TRACE)
            .is_some_and(|v| v.as_bytes() == self.config.trace_key.as_bytes());
        let sticky = match &target {
            Target::Any { sticky } => sticky.clone(),
            Target::Instance(_) => None,
        };
        let before_send = started.elapsed();
        let (mut response, sender) = self.send(&backend, sender, req).await?;
        let head_at = Instant::now();
        record.status = response.status().as_u16();
        if trace {
            headers::add_trace(
                response.headers_mut(),
                &self.config.common.local_host,
                &backend.authority,
            );
        }
        if upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let backend_upgrade = hyper::upgrade::on(&mut response);
            if let Some(client_upgrade) = client_upgrade {
                tokio::spawn(tunnel(client_upgrade, backend_upgrade));
            }
            record.router_time = before_send + head_at.elapsed();
            self.reporter.finish(std::mem::take(record), started);
            drop(in_flight);
            return Ok(response.map(|_| Either::Right(Full::new(Bytes::new()))));
        }
        headers::strip_hop_by_hop(response.headers_mut(), false);
        self.set_sticky_cookie(response.headers_mut(), &backend, sticky.as_deref());
        record.router_time = before_send + head_at.elapsed();
        let exchange = Exchange {
            reporter: self.reporter.clone(),
            record: std::mem::take(record),
            started,
            in_flight,
            sender: Some(sender),
        };
        Ok(response.map(|body| Either::Left(ProxiedBody::new(body, exchange))))
    }

    /// Chooses backends until one accepts a connection, at most `max_attempts` times.
    async fn connect_some_backend(
        &self,
        pool: &Pool,
        target: &Target,
        record: &mut AccessRecord,
    ) -> Result<(Arc<Backend>, Sender), RouteError> {
        let mut tried: Vec<Arc<Backend>> = Vec::new();
        while tried.len() < self.config.max_attempts.max(1) {
            let candidate = match target {
                Target::Instance(b) if tried.is_empty() => Some(b.clone()),
                Target::Instance(_) => None,
                Target::Any { sticky } => {
                    balancer::choose(pool, self.config.load_balance, sticky.as_deref(), &tried)
                }
            };
            let Some(backend) = candidate else { break };
            match self.connection_to(&backend).await {
                Ok(sender) => return Ok((backend, sender)),
                Err(e) => {
                    tracing::warn!(backend = %backend.authority, error = %e, "backend-endpoint-failed");
                    record.failed_attempts += 1;
                    record.failed_backend = Some(backend.clone());
                    tried.push(backend);
                }
            }
        }
        Err(RouteError::EndpointFailure)
    }

    async fn connection_to(
        &self,
        backend: &Backend,
    ) -> Result<Sender, crate::connection_pool::DialError> {
        if let Some(sender) = backend.connections.take_idle().await {
            return Ok(sender);
        }
        backend
            .connections
            .dial(&backend.authority, self.config.dial_timeout())
            .await
    }

    /// Sends on `sender`; if that pooled connection turned out closed before the request
    /// left, sends once more on a fresh connection.
    async fn send(
        &self,
        backend: &Backend,
        mut sender: Sender,
        req: Request<Incoming>,
    ) -> Result<(Response<Incoming>, Sender), RouteError> {
        match sender.try_send_request(req).await {
            Ok(response) => Ok((response, sender)),
            Err(mut e) => {
                let Some(req) = e.take_message() else {
                    tracing::warn!(backend = %backend.authority, error = %e.error(), "backend-endpoint-failed");
                    return Err(RouteError::EndpointFailure);
                };
                let mut fresh = backend
                    .connections
                    .dial(&backend.authority, self.config.dial_timeout())
                    .await
                    .map_err(|_| RouteError::EndpointFailure)?;
                match fresh.send_request(req).await {
                    Ok(response) => Ok((response, fresh)),
                    Err(e) => {
                        tracing::warn!(backend = %backend.authority, error = %e, "backend-endpoint-failed");
                        Err(RouteError::EndpointFailure)
                    }
                }
            }
        }
    }

    /// Pins the client to the instance when the app started a session (or when the pinned
    /// instance is gone and another one answered).
    fn set_sticky_cookie(
        &self,
        headers: &mut http::HeaderMap,
        backend: &Backend,
        requested: Option<&str>,
    ) {
        let Some(instance) = backend.spec.private_instance_id.as_deref() else {
            return;
        };
        let session = headers::sticky_set_cookie(headers, &self.config.sticky_session_cookies);
        let repin = requested.is_some_and(|r| r != instance);
        if session.is_none() && !repin {
            return;
        }
        let cookie = headers::vcap_id_cookie(instance, session.as_deref());
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

/// The request's host: the `Host` header, else the absolute URI's authority.
fn request_host(req: &Request<Incoming>) -> Cow<'_, str> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| Cow::Borrowed(h.trim()))
        .or_else(|| req.uri().authority().map(|a| Cow::Borrowed(a.as_str())))
        .unwrap_or(Cow::Borrowed(""))
}

/// Origin-form URI and hop-by-hop headers removed.
fn prepare_request(req: &mut Request<Incoming>, upgrade: bool) {
    if req.uri().authority().is_some() {
        if let Some(host) = req.uri().authority().map(|a| a.to_string()) {
            if !req.headers().contains_key(header::HOST) {
                if let Ok(v) = HeaderValue::from_str(&host) {
                    req.headers_mut().insert(header::HOST, v);
                }
            }
        }
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        *req.uri_mut() = path
            .parse::<Uri>()
            .unwrap_or_else(|_| Uri::from_static("/"));
    }
    headers::strip_hop_by_hop(req.headers_mut(), upgrade);
}

fn access_record(req: &Request<Incoming>, remote: SocketAddr) -> AccessRecord {
    let header = |name: &HeaderName| req.headers().get(name).cloned();
    let host = match req.headers().get(header::HOST) {
        Some(h) if h.to_str().is_ok() => Some(h.clone()),
        _ => req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    };
    AccessRecord {
        host,
        started: Some(SystemTime::now()),
        method: req.method().clone(),
        uri: req.uri().clone(),
        proto: match req.version() {
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
        bytes_in: req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        referer: header(&header::REFERER),
        user_agent: header(&header::USER_AGENT),
        remote: Some(remote),
        x_forwarded_for: header(&headers::X_FORWARDED_FOR),
        x_forwarded_proto: header(&headers::X_FORWARDED_PROTO),
        ..AccessRecord::default()
    }
}

/// Copies bytes both ways between the upgraded client and backend connections.
async fn tunnel(client: hyper::upgrade::OnUpgrade, backend: hyper::upgrade::OnUpgrade) {
    let (client, backend) = match tokio::try_join!(client, backend) {
        Ok(pair) => pair,
        Err(e) => {
            tracing::warn!(error = %e, "websocket upgrade failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut backend = TokioIo::new(backend);
    if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut backend).await {
        tracing::debug!(error = %e, "websocket tunnel ended");
    }
}
