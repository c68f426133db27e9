//! The heavy lane: where the calls of suspect plugins, and of plugins
//! without a record yet, run.

use std::future::Future;

use anyhow::Context;
use tracing::Instrument;

/// A thread of its own, with its own small tokio runtime, for the calls of
/// plugins whose calls fault at least half the time ("suspect": they run
/// on the heavy slot only). Such a guest spins or bombs its memory a 2 ms
/// tick at a time; on the server's runtime each tick held one of its
/// worker threads (one of two on a 2-core machine), and the write
/// transactions, HTTP handlers and sends waiting for that worker waited
/// with it: in the noisy benchmark Herald used the same CPU with and
/// without the hostile tenant, yet its neighbour sent 30% less. On this
/// thread the kernel preempts a spinning guest for them instead.
pub(super) struct HeavyLane {
    handle: tokio::runtime::Handle,
    /// Dropped with the runtime: the thread's runtime then ends.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl HeavyLane {
    pub(super) fn start() -> anyhow::Result<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("herald-heavy".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        let handle = handle_rx
            .recv()
            .context("the heavy lane's thread ended at once")?
            .context("starting the heavy lane's runtime")?;
        Ok(Self {
            handle,
            _stop: stop,
        })
    }

    /// Runs `call` on the lane's thread, in the caller's tracing span; the
    /// call stops if the caller stops waiting for it.
    pub(super) fn run<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
        &self,
        call: F,
    ) -> impl Future<Output = Result<T, tokio::task::JoinError>> + use<T, F> {
        run_on(&self.handle, call)
    }

    /// Tasks alive on the lane's runtime (a pooled connection's among them).
    #[cfg(test)]
    pub(super) fn alive_tasks(&self) -> usize {
        self.handle.metrics().num_alive_tasks()
    }
}

/// Runs `work` on `runtime`'s threads, in the caller's tracing span; it
/// stops if the caller stops waiting for it.
///
/// Spawned at once, not on the first poll: the future returned holds the
/// task's handle, not `work` (a plugin call's few KB, which an `async fn`
/// would have carried inside every future awaiting this one).
pub(super) fn run_on<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
    runtime: &tokio::runtime::Handle,
    work: F,
) -> impl Future<Output = Result<T, tokio::task::JoinError>> + use<T, F> {
    let task = runtime.spawn(work.instrument(tracing::Span::current()));
    let abort = AbortOnDrop(task.abort_handle());
    async move {
        let _abort = abort;
        task.await
    }
}

/// Aborts a task when the call awaiting it is dropped, as dropping the
/// call's own future would have stopped it.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
