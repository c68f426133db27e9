//! Serves the router on a listener with the bounds a public server needs,
//! which `axum::serve` does not set:
//! - at most `max_connections` open at once; the rest wait in the kernel's
//!   backlog. The cap stays under the process's descriptor limit, so an
//!   accept never fails with "too many open files" and the database and
//!   plugin files always have descriptors left.
//! - a connection with no request under way is closed after `idle` (hyper's
//!   header-read timeout also covers the wait for the next request on a
//!   kept-alive connection). A provider's callback pool, a browser or a
//!   slow client holds a connection, and its buffers, only while it uses it.
//! - a request body that stalls for `idle` between two pieces is cut off
//!   (hyper has no body timeout): a client trickling an upload cannot hold
//!   a connection and a handler forever; the handler sees the read fail and
//!   answers its usual JSON error.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// Descriptors kept for everything but client connections: database
/// connections, plugin and cache files, outbound provider calls.
const RESERVED_DESCRIPTORS: u64 = 256;
/// How long connections get to finish their last requests at shutdown.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub idle: Duration,
}

impl ConnectionLimits {
    /// Raises the soft descriptor limit to the hard one (as Go's runtime
    /// does) and keeps `max_connections` under what is then available.
    pub fn fit_to_descriptors(mut self) -> Self {
        let available = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(limit) => limit,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the descriptor limit; assuming 1024");
                1024
            }
        };
        let room = available.saturating_sub(RESERVED_DESCRIPTORS).max(16) as usize;
        if room < self.max_connections {
            tracing::warn!(
                asked = self.max_connections,
                allowed = room,
                descriptor_limit = available,
                "--max-connections lowered to fit the descriptor limit (raise it with ulimit -n)"
            );
            self.max_connections = room;
        }
        self
    }
}

/// Serves until `shutdown` resolves, then stops accepting, lets open
/// connections finish their requests (at most [`CLOSE_GRACE`]) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    // HTTP/1.1 only (what providers' webhooks and browsers speak without
    // TLS): the header-read timer then runs from the first byte awaited.
    // Detecting HTTP/2 first would leave a silent connection untimed.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle);
    tokio::pin!(shutdown);
    let mut warned_full = false;
    loop {
        let permit = match open.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !warned_full {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                    warned_full = true;
                }
                tokio::select! {
                    permit = open.clone().acquire_owned() => permit.expect("never closed"),
                    _ = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory for a moment: back off
                    // rather than spin.
                    tracing::warn!(error = %e, "accept failed; retrying in 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if open.available_permits() > limits.max_connections / 2 {
            warned_full = false;
        }
        let _ = stream.set_nodelay(true);
        let idle = limits.idle;
        let service = TowerToHyperService::new(router.clone().map_request(
            move |request: axum::http::Request<hyper::body::Incoming>| {
                // The peer, for handlers that judge a source (webhooks).
                let mut request =
                    request.map(|body| axum::body::Body::new(TimeoutBody::new(idle, body)));
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            },
        ));
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(CLOSE_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the close grace; closing them");
    }
}
