//! Forwarding one routed request: choose a backend that accepts a connection (bounded
//! attempts, never the same backend twice, retry on refusal), rewrite the head with
//! gorouter's headers, answer `Expect: 100-continue`, run the exchange (once more on a fresh
//! connection when a reused idle one turns out closed and the request has no body; each
//! attempt is its own router → app hop while a flow viewer watches), and give the backend
//! connection back to its pool when it can carry another request.

use crate::access_log::AccessRecord;
use crate::backend::Backend;
use crate::balancer;
use crate::client_conn::{Client, Next};
use crate::connection_pool::{BackendConn, DialError};
use crate::exchange::{exchange, ClientNext, ExchangeError, Responded};
use crate::hops::ForwardHops;
use crate::http1::framing::Framing;
use crate::http1::request::RequestHead;
use crate::proxy::{Proxy, Target};
use crate::request_id::RequestId;
use crate::rewrite::{self, ClientConnection, Forwarding, ResponseEdits, Sticky};
use crate::route_error::RouteError;
use crate::route_table::Pool;
use cfsim_component::http_hops::Exchange;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

/// When and how the request started.
pub struct Started {
    pub at: Instant,
    pub wall: SystemTime,
    /// The client's exchange, reported while a flow viewer watches.
    pub hop: Option<Exchange>,
}

/// Forwards `head` to a backend of `pool` and relays the response.
pub async fn forward(
    proxy: &Proxy,
    client: &mut Client,
    head: &RequestHead,
    pool: &Pool,
    target: Target,
    record: &mut AccessRecord,
    started: &Started,
) -> Result<Next, RouteError> {
    let (backend, mut conn) = connect_some_backend(proxy, pool, &target, record).await?;
    let _in_flight = backend.begin_request();
    record.backend = Some(backend.clone());
    let request_id = RequestId::new();
    record.vcap_request_id = Some(request_id);
    let framing = head.framing.unwrap_or(Framing::Empty);
    let answer_continue = head.known.expect_continue && framing.has_body() && !head.http10;
    client.wire.clear();
    let now_ms = started
        .wall
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let forwarding = Forwarding {
        client_ip: &client.ip,
        request_id: &request_id,
        backend: &backend,
        now_ms,
        drop_expect: answer_continue,
        via: started
            .hop
            .as_ref()
            .filter(|_| backend.is_component)
            .map(|_| proxy.hops.name()),
    };
    rewrite::request_head(&mut client.wire, head, &forwarding);
    if answer_continue
        && client
            .stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return Ok(Next::Close);
    }
    let sticky = match &target {
        Target::Any { sticky } => sticky.as_deref(),
        Target::Instance(_) => None,
    };
    let edits = response_edits(proxy, head, &backend, sticky);
    let before_send = started.at.elapsed();
    let hops = || {
        let client = started.hop.as_ref()?;
        Some(ForwardHops::forwarded(client, &backend, head))
    };
    let mut result = exchange(client, &mut conn, head, &edits, hops().as_ref()).await;
    if matches!(result, Err(ExchangeError::NoResponse(_))) && conn.reused && !framing.has_body() {
        conn = backend
            .connections
            .dial(&backend.authority, proxy.config.dial_timeout())
            .await
            .map_err(|_| RouteError::EndpointFailure)?;
        result = exchange(client, &mut conn, head, &edits, hops().as_ref()).await;
    }
    let responded = match result {
        Ok(responded) => responded,
        Err(ExchangeError::ClientGone) => return Ok(Next::Close),
        Err(e) => {
            tracing::warn!(backend = %backend.authority, error = %e, "backend-endpoint-failed");
            return Err(RouteError::EndpointFailure);
        }
    };
    record_response(record, &responded, before_send);
    Ok(match responded.client {
        ClientNext::Upgraded => Next::Tunnel(conn),
        next => {
            if responded.backend_reusable {
                backend.connections.put_back(conn);
            }
            next.into()
        }
    })
}

fn record_response(record: &mut AccessRecord, r: &Responded, before_send: std::time::Duration) {
    record.status = r.status;
    record.bytes_out = r.bytes_out;
    record.router_time = before_send + r.head_time;
}

/// The trace headers when `X-Vcap-Trace` carries the key; the sticky cookie inputs when the
/// backend has an instance id.
fn response_edits<'a>(
    proxy: &'a Proxy,
    head: &RequestHead,
    backend: &'a Backend,
    sticky: Option<&'a str>,
) -> ResponseEdits<'a> {
    let traced = head
        .known
        .trace
        .is_some_and(|t| head.get(t) == proxy.config.trace_key.as_bytes());
    ResponseEdits {
        trace: traced.then(|| {
            (
                proxy.config.common.local_host.as_str(),
                backend.authority.as_str(),
            )
        }),
        sticky: backend
            .spec
            .private_instance_id
            .as_deref()
            .map(|instance| Sticky {
                instance,
                requested: sticky.map(str::as_bytes),
                cookies: &proxy.config.sticky_session_cookies,
            }),
        chunked: false,
        connection: ClientConnection::KeepAlive,
    }
}

/// Chooses backends until one accepts a connection, at most `max_attempts` times.
async fn connect_some_backend(
    proxy: &Proxy,
    pool: &Pool,
    target: &Target,
    record: &mut AccessRecord,
) -> Result<(Arc<Backend>, BackendConn), RouteError> {
    let mut tried: Vec<Arc<Backend>> = Vec::new();
    while tried.len() < proxy.config.max_attempts.max(1) {
        let candidate = match target {
            Target::Instance(b) if tried.is_empty() => Some(b.clone()),
            Target::Instance(_) => None,
            Target::Any { sticky } => {
                balancer::choose(pool, proxy.config.load_balance, sticky.as_deref(), &tried)
            }
        };
        let Some(backend) = candidate else { break };
        match connection_to(proxy, &backend).await {
            Ok(conn) => return Ok((backend, conn)),
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

async fn connection_to(proxy: &Proxy, backend: &Backend) -> Result<BackendConn, DialError> {
    if let Some(conn) = backend.connections.take_idle() {
        return Ok(conn);
    }
    backend
        .connections
        .dial(&backend.authority, proxy.config.dial_timeout())
        .await
}
