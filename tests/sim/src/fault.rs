//! Faults on the way out: answers that come too late (`0504`) and
//! connections closed instead of answered (`0505`).
//!
//! A provider marks the success answer of an accepted send with an
//! [`AnswerFault`] (see [`crate::behaviour::Behaviour::mark`]).
//! [`crate::Shared::handle_send`] holds a [`AnswerFault::Slow`] answer back
//! for [`crate::SimConfig::slow_answer_delay`]; the [`apply`] middleware
//! turns a [`AnswerFault::Reset`] answer into a closed connection.
//!
//! Closing needs the connection, which a handler never sees: the server
//! accepts through [`SimListener`], whose streams each carry a kill switch,
//! and hands the switch to every request as `ConnectInfo<`[`Connection`]`>`.
//! Once the switch is thrown, every read and write on that stream fails, so
//! hyper gives up the connection without writing a single byte of the
//! answer (no status line, no headers) and drops the socket: the client
//! sees the connection closed before any answer (reqwest: an `is_request()`
//! error from hyper's `IncompleteMessage`, no status). Only that connection
//! goes; over HTTP/2 that would be every stream on it (clients of the
//! simulator speak HTTP/1.1).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// What happens to an accepted send's answer on its way to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnswerFault {
    /// Sent only after [`crate::SimConfig::slow_answer_delay`].
    Slow,
    /// Never sent: the connection is closed instead.
    Reset,
}

/// Tags `answer` with `fault` (read back by [`fault_of`]).
pub(crate) fn mark(mut answer: Response, fault: AnswerFault) -> Response {
    answer.extensions_mut().insert(fault);
    answer
}

pub(crate) fn fault_of(answer: &Response) -> Option<AnswerFault> {
    answer.extensions().get::<AnswerFault>().copied()
}

/// Middleware: closes the connection of a request whose answer is marked
/// [`AnswerFault::Reset`], so that answer never leaves.
pub(crate) async fn apply(request: Request, next: Next) -> Response {
    let connection = request
        .extensions()
        .get::<ConnectInfo<Connection>>()
        .map(|info| info.0.clone());
    let answer = next.run(request).await;
    if fault_of(&answer) == Some(AnswerFault::Reset) {
        match connection {
            Some(connection) => connection.kill(),
            None => tracing::warn!("no connection to close: answering normally"),
        }
    }
    answer
}

/// The kill switch of one accepted connection.
#[derive(Clone, Debug)]
pub(crate) struct Connection(Arc<AtomicBool>);

impl Connection {
    /// From now on every read and write of the connection fails.
    pub(crate) fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Connection(stream.io().killed.clone())
    }
}

/// A TCP listener whose connections can be killed by a handler.
pub(crate) struct SimListener(pub(crate) TcpListener);

impl Listener for SimListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // TcpListener's own accept logs and retries transient errors.
        let (inner, addr) = Listener::accept(&mut self.0).await;
        let stream = KillableStream {
            inner,
            killed: Arc::new(AtomicBool::new(false)),
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP stream that fails every operation once its switch is thrown.
pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "herald-sim: connection closed on purpose",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
