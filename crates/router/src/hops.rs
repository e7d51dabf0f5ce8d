//! The router's HTTP hops for the flow tools (see `cfsim_component::http_hops`): a proxied
//! request is two exchanges, four legs: client → router (with the `Host` header; the client
//! named by its User-Agent product, or `client`), router → app instance (`<ip>:<port>`), app →
//! router and router → client. A request the router answers itself (404, 502 ...) is the
//! first exchange only, and so is one to a component (a backend registered with a `component`
//! tag, such as the cloud controller's API): the component reports the second exchange itself,
//! named after the router it reads in `X-Cfsim-Via`.
//!
//! The proxy threads pay for this only while a flow viewer watches: [`arrived`] is one
//! relaxed atomic load and returns `None` otherwise, and every later step only checks that
//! `Option`. The legs' texts are built (and allocated) only on the watched path.

use crate::backend::Backend;
use crate::http1::framing::Framing;
use crate::http1::request::RequestHead;
use cfsim_component::http_hops::{client_name, Exchange, HopReporter};

/// A client's request arrived: reports its leg while watched (`None`, at the cost of one
/// relaxed load, otherwise).
#[inline]
pub fn arrived(hops: &HopReporter, head: &RequestHead) -> Option<Exchange> {
    if !hops.is_watched() {
        return None;
    }
    report_arrival(hops, head)
}

#[cold]
fn report_arrival(hops: &HopReporter, head: &RequestHead) -> Option<Exchange> {
    let from = client_name(head.known.user_agent.map(|span| head.get(span)));
    let method = String::from_utf8_lossy(head.method());
    let target = String::from_utf8_lossy(head.get(head.target));
    let host = String::from_utf8_lossy(head.host());
    hops.request(&from, &method, &target, Some(&host))
}

/// The two exchanges of a forwarded request.
pub struct ForwardHops<'a> {
    /// Client ↔ router.
    pub client: &'a Exchange,
    /// Router ↔ app instance (`None` for a component, which reports it itself).
    pub backend: Option<Exchange>,
}

impl<'a> ForwardHops<'a> {
    /// The request goes to `backend`: reports router → app (the origin-form target it gets).
    pub fn forwarded(client: &'a Exchange, backend: &Backend, head: &RequestHead) -> Self {
        if backend.is_component {
            return ForwardHops {
                client,
                backend: None,
            };
        }
        let method = String::from_utf8_lossy(head.method());
        let target = String::from_utf8_lossy(head.origin_target());
        let host = String::from_utf8_lossy(head.host());
        let backend = client.onward(&backend.authority, &method, &target, Some(&host));
        ForwardHops {
            client,
            backend: Some(backend),
        }
    }

    /// The app's response head came and goes on to the client: reports app → router, then
    /// router → client, with the body size when its framing says it.
    pub fn responded(&self, status: u16, framing: Option<Framing>) {
        let bytes = match framing {
            Some(Framing::Empty) => Some(0),
            Some(Framing::Length(n)) => Some(n),
            _ => None,
        };
        if let Some(backend) = &self.backend {
            backend.respond(status, bytes);
        }
        self.client.respond(status, bytes);
    }
}
