//! The bookkeeping of one proxied request that outlives the handler: the response body is
//! streamed after the handler returned, so the end of the request (latency, bytes sent,
//! access-log line, in-flight count, giving the keep-alive connection back) happens when
//! [`ProxiedBody`] reaches its end or is dropped.

use crate::access_log::{AccessLog, AccessRecord};
use crate::backend::InFlight;
use crate::connection_pool::Sender;
use crate::metrics::Metrics;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Where the end of a request is reported.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub metrics: Arc<Metrics>,
    pub access_log: AccessLog,
}

impl Reporter {
    /// Records a finished request.
    pub fn finish(&self, mut record: AccessRecord, started: Instant) {
        record.response_time = started.elapsed();
        self.metrics.record(record.status, record.response_time);
        self.access_log.log(record);
    }
}

/// A request whose response body is still flowing.
#[derive(Debug)]
pub struct Exchange {
    pub reporter: Reporter,
    pub record: AccessRecord,
    pub started: Instant,
    pub in_flight: InFlight,
    pub sender: Option<Sender>,
}

impl Exchange {
    fn finish(mut self: Box<Self>, body_complete: bool) {
        if let Some(sender) = self.sender.take() {
            if body_complete {
                self.in_flight.backend().connections.put_back(sender);
            }
        }
        self.reporter.finish(self.record, self.started);
    }
}

/// The backend's response body on its way to the client, counted, ending the [`Exchange`].
#[derive(Debug)]
pub struct ProxiedBody {
    inner: Incoming,
    /// Boxed: hyper moves the response body around several times, and the record is large.
    exchange: Option<Box<Exchange>>,
}

impl ProxiedBody {
    /// Wraps a backend body.
    pub fn new(inner: Incoming, exchange: Exchange) -> Self {
        ProxiedBody {
            inner,
            exchange: Some(Box::new(exchange)),
        }
    }
}

impl Body for ProxiedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(ex)) = (frame.data_ref(), self.exchange.as_mut()) {
                    ex.record.bytes_out += data.len() as u64;
                }
            }
            Poll::Ready(None) => {
                if let Some(ex) = self.exchange.take() {
                    ex.finish(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(ex) = self.exchange.take() {
                    ex.finish(false);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ProxiedBody {
    fn drop(&mut self) {
        if let Some(ex) = self.exchange.take() {
            let complete = self.inner.is_end_stream();
            ex.finish(complete);
        }
    }
}
