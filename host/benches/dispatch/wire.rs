//! The wire's floor: what a message's HTTP alone costs on these cores.
//!
//! The ceiling client posts sends and nothing else, but each message of a
//! campaign is three HTTP exchanges: the send, and the simulator's signed
//! `sent` and `delivered` callbacks, which Herald receives. Here a native
//! client posts the same sends with a `StatusCallback`, and a native
//! receiver takes the callbacks, checks each signature as any receiver
//! must, and counts the final ones: no database, no plugin, no engine.
//!
//! The client and the receiver run on a runtime of their own, whose
//! threads' CPU is Herald's side of the wire; the simulator's is the rest
//! of this process's. Together they say how many messages/s these cores
//! allow for the wire alone, and so how much CPU per message is left for
//! everything else Herald does at a given rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures::StreamExt;
use herald_sim::Simulator;
use tokio::sync::Notify;

use super::{NativeClient, concurrency};

/// Names the threads whose CPU is the native peers' (Herald's side).
const PEER_THREADS: &str = "wire-peer";

/// What the floor run measured.
pub struct Floor {
    pub elapsed: Duration,
    /// The native client and receiver: Herald's side of the wire.
    pub peer_cpu_per_1000: Duration,
    /// The simulator (and this benchmark's own bookkeeping).
    pub sim_cpu_per_1000: Duration,
    /// Callbacks whose signature did not match (must be 0).
    pub bad_signatures: u64,
}

struct Receiver {
    url: String,
    auth_token: String,
    delivered: AtomicU64,
    bad_signatures: AtomicU64,
    want: u64,
    all_in: Notify,
}

/// `n` sends with their callbacks, [`concurrency`] sends in flight.
pub async fn floor(sim: &Simulator, n: u64) -> Floor {
    let peers = Peers {
        client: NativeClient::of(sim),
        n,
    };
    let process_before = super::herald::cpu_of(std::process::id());
    // A thread of its own: this task's runtime cannot run another inside.
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name(PEER_THREADS)
            .enable_all()
            .build()
            .expect("the peers' runtime");
        let before = peer_cpu();
        // Spawned, not run by `block_on`: on the runtime's own threads.
        let (elapsed, bad_signatures) = runtime
            .block_on(runtime.spawn(peers.run()))
            .expect("the peers' run");
        let _ = tx.send((elapsed, bad_signatures, peer_cpu() - before));
    });
    let (elapsed, bad_signatures, peer_cpu) = rx.await.expect("the peers' thread");
    let process_cpu = super::herald::cpu_of(std::process::id()) - process_before;
    let per_1000 = |cpu: Duration| cpu.mul_f64(1000.0 / n.max(1) as f64);
    Floor {
        elapsed,
        peer_cpu_per_1000: per_1000(peer_cpu),
        sim_cpu_per_1000: per_1000(process_cpu.saturating_sub(peer_cpu)),
        bad_signatures,
    }
}

/// The native client's and receiver's part.
struct Peers {
    client: NativeClient,
    n: u64,
}

impl Peers {
    /// How long until every final callback was in, and how many callbacks
    /// had a wrong signature.
    async fn run(self) -> (Duration, u64) {
        let Peers { client, n } = self;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Arc::new(Receiver {
            url: format!("http://{}/status", listener.local_addr().unwrap()),
            auth_token: client.auth_token.clone(),
            delivered: AtomicU64::new(0),
            bad_signatures: AtomicU64::new(0),
            want: n,
            all_in: Notify::new(),
        });
        let app = axum::Router::new()
            .route("/status", axum::routing::post(status))
            .with_state(receiver.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let all_in = receiver.all_in.notified();
        let started = Instant::now();
        futures::stream::iter(0..n)
            .map(|i| {
                let request = client.send(i, Some(&receiver.url));
                async move { request.send().await.map(|r| r.status().as_u16()) }
            })
            .buffer_unordered(concurrency())
            .for_each(|_| async {})
            .await;
        if receiver.delivered.load(Ordering::Acquire) < n {
            tokio::time::timeout(Duration::from_secs(600), all_in)
                .await
                .expect("every message's final callback within 600 s");
        }
        let elapsed = started.elapsed();
        server.abort();
        (elapsed, receiver.bad_signatures.load(Ordering::Acquire))
    }
}

/// A status callback: its signature checked over the form's parameters
/// (a mismatch counted), a final `delivered` counted.
async fn status(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let signed = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    let expected = herald_sim::twilio_signature(&receiver.auth_token, &receiver.url, &params);
    // Counted, not refused: a refusal would only add the simulator's retry
    // to the floor (and the row reports the count, which must be 0).
    if signed != Some(expected.as_str()) {
        receiver.bad_signatures.fetch_add(1, Ordering::AcqRel);
    }
    let delivered = params
        .iter()
        .any(|(k, v)| k == "MessageStatus" && v == "delivered");
    if delivered && receiver.delivered.fetch_add(1, Ordering::AcqRel) + 1 == receiver.want {
        receiver.all_in.notify_one();
    }
    StatusCode::OK
}

/// The CPU time so far of this process's threads named [`PEER_THREADS`].
fn peer_cpu() -> Duration {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with(PEER_THREADS))
        })
        .map(|task| {
            let tid = task.file_name().to_string_lossy().into_owned();
            super::herald::cpu_ticks(&format!("self/task/{tid}"), &[11, 12])
        })
        .sum()
}

/// The floor's row of the dispatch table (its columns).
pub fn print_floor(floor: &Floor, members: u64, ceiling_per_s: f64) {
    let rate = members as f64 / floor.elapsed.as_secs_f64();
    println!(
        "| floor: the same sends with their signed callbacks, a native client and receiver, no database, no plugin | {rate:.0} | - ({:.0}% of ceiling end to end) | {:.1} s | {:.2} s (the native client and receiver) | {:.2} s | - | {:.0} | - | {} | {members} requests, {} bad signatures |",
        100.0 * rate / ceiling_per_s,
        floor.elapsed.as_secs_f64(),
        floor.peer_cpu_per_1000.as_secs_f64(),
        floor.sim_cpu_per_1000.as_secs_f64(),
        super::campaign::rate_the_cores_allow(floor.peer_cpu_per_1000 + floor.sim_cpu_per_1000),
        concurrency(),
        floor.bad_signatures,
    );
}
