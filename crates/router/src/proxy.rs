//! The HTTP side: accepts client connections on per-CPU threads, and for each request
//! resolves the route (empty host, `X-Cf-App-Instance`, table lookup), forwards it (see
//! `forward`) or answers with gorouter's error, and reports it (metrics, access log, and the
//! HTTP hops while a flow viewer watches).
//!
//! The wire protocol is the router's own lean HTTP/1.1 code (`http1`, `relay`, `exchange`)
//! rather than hyper's server and client: a request costs one read and one write on each
//! side, and its head is parsed once and rewritten straight into the output buffer.

use crate::access_log::{AccessLog, AccessRecord};
use crate::backend::Backend;
use crate::balancer;
use crate::client_conn::{self, Client, Next};
use crate::config::RouterConfig;
use crate::connection_pool;
use crate::forward::{forward, Started};
use crate::headers::{self, IpText, VCAP_ID_COOKIE};
use crate::hops;
use crate::http1::framing::Framing;
use crate::http1::request::RequestHead;
use crate::metrics::Metrics;
use crate::route_error::RouteError;
use crate::route_table::{host_without_port, Pool, RouteTable};
use cfsim_component::http_hops::{Exchange, HopReporter};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// The proxy's shared state.
#[derive(Debug)]
pub struct Proxy {
    pub table: Arc<RouteTable>,
    pub config: Arc<RouterConfig>,
    pub reporter: Reporter,
    /// The HTTP hops of each exchange, while a flow viewer watches.
    pub hops: HopReporter,
}

/// Where the end of a request is reported.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub metrics: Arc<Metrics>,
    pub access_log: AccessLog,
}

impl Reporter {
    /// Records a finished request.
    pub fn finish(&self, mut record: AccessRecord, started: Instant, request: &RequestHead) {
        record.response_time = started.elapsed();
        self.metrics.record(record.status, record.response_time);
        self.access_log.log(&record, Some(request));
    }
}

/// Which backend a request must go to, when the client asked for one.
pub enum Target {
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
                        tokio::spawn(client_conn::serve(stream, remote, proxy.clone()));
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
                            tokio::spawn(client_conn::serve(stream, remote, proxy.clone()));
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

impl Proxy {
    /// Handles one client request; says what the connection does next.
    pub async fn handle(&self, client: &mut Client, head: RequestHead) -> Next {
        let started = Started {
            at: Instant::now(),
            wall: SystemTime::now(),
            hop: hops::arrived(&self.hops, &head),
        };
        let mut record = AccessRecord {
            started: Some(started.wall),
            remote: Some(client.remote),
            bytes_in: head.known.lengths.content_length.unwrap_or(0),
            ..AccessRecord::default()
        };
        let result = match self.resolve(&head, &client.ip) {
            Ok((pool, target)) => {
                forward(self, client, &head, &pool, target, &mut record, &started).await
            }
            Err(e) => Err(e),
        };
        let next = match result {
            Ok(next) => next,
            Err(error) => {
                let hop = started.hop.as_ref();
                self.answer_error(client, &head, error, &mut record, hop)
                    .await
            }
        };
        self.reporter.finish(record, started.at, &head);
        client.request_fields = head.into_fields();
        next
    }

    /// Sends gorouter's error response; closes the connection if the request body was not
    /// read or the client does not keep the connection.
    async fn answer_error(
        &self,
        client: &mut Client,
        head: &RequestHead,
        error: RouteError,
        record: &mut AccessRecord,
        hop: Option<&Exchange>,
    ) -> Next {
        if error == RouteError::EndpointFailure {
            self.reporter.metrics.record_bad_gateway();
        }
        record.status = error.status();
        record.router_error = error.code();
        let close = !head.keep_alive() || head.framing != Some(Framing::Empty);
        record.bytes_out = (error.body().len()) as u64;
        if let Some(hop) = hop {
            hop.respond(record.status, Some(record.bytes_out));
        }
        client.out.clear();
        error.write_response(&mut client.out, close);
        let written = client.stream.write_all(&client.out).await;
        client.out.clear();
        match (written, close) {
            (Ok(()), false) => Next::KeepAlive,
            _ => Next::Close,
        }
    }

    /// Host and headers → the route's pool and the target instance.
    fn resolve(&self, head: &RequestHead, ip: &IpText) -> Result<(Arc<Pool>, Target), RouteError> {
        let host = String::from_utf8_lossy(head.host());
        if host.is_empty() || host_without_port(&host).as_bytes() == ip.as_bytes() {
            return Err(RouteError::EmptyHost);
        }
        let app_instance = match head.known.app_instance {
            Some(span) => Some(
                headers::parse_app_instance(head.get(span))
                    .ok_or(RouteError::InvalidAppInstanceHeader)?,
            ),
            None => None,
        };
        let path = std::str::from_utf8(head.path()).unwrap_or("/");
        let pool = self.table.lookup(&host, path);
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
        let sticky = head
            .cookie(VCAP_ID_COOKIE.as_bytes())
            .map(|v| String::from_utf8_lossy(v).into_owned());
        Ok((pool, Target::Any { sticky }))
    }
}
