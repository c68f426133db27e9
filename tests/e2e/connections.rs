//! HTTP connections are bounded: a connection that sends no request (or
//! stops halfway through its headers, or keeps a finished keep-alive
//! connection open) is closed after `--idle-timeout-secs`, and clients that
//! hold `--max-connections` idle connections cannot lock everyone else out
//! for longer than that; a request body that stalls is cut off as well.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Backend, Herald};

fn address(herald: &Herald) -> String {
    herald
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned()
}

/// Reads until the server closes the connection; the bytes it sent.
async fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + deadline;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_and_cannot_lock_others_out() {
    let herald = Herald::start(
        Backend::Sqlite,
        &["--idle-timeout-secs", "1", "--max-connections", "4"],
    )
    .await;
    let addr = address(&herald);

    // Every connection slot taken: two silent, one halfway through its
    // headers, one kept alive after a finished request.
    let mut silent = Vec::new();
    for _ in 0..2 {
        silent.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: herald\r\n")
        .await
        .unwrap();
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n")
        .await
        .unwrap();

    // A newcomer waits at most the idle timeout for a slot, then is served.
    let started = Instant::now();
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("{}/healthz", herald.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once idle connections were closed");
    assert_eq!(answer.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "waited {:?} for a connection slot",
        started.elapsed()
    );

    // The kept-alive connection got its answer, then was closed.
    let kept_saw = read_until_closed(&mut kept, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        String::from_utf8_lossy(&kept_saw).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&kept_saw)
    );
    // The half-sent request and the silent connections were closed too.
    assert!(
        read_until_closed(&mut slow, Duration::from_secs(5))
            .await
            .is_some(),
        "a connection stuck in its headers is closed"
    );
    for mut stream in silent {
        assert!(
            read_until_closed(&mut stream, Duration::from_secs(5))
                .await
                .is_some(),
            "a connection that never sends a request is closed"
        );
    }
}

/// A request whose body stops arriving is cut off after the idle timeout
/// with the JSON error, while a body that keeps coming, however slowly
/// overall, is read to the end.
#[tokio::test]
async fn a_stalled_request_body_is_cut_off() {
    let herald = Herald::start(Backend::Sqlite, &["--idle-timeout-secs", "1"]).await;
    let api = herald.new_tenant("acme").await;
    let addr = address(&herald);
    let head = |length: usize| {
        format!(
            "POST /v1/lists HTTP/1.1\r\nHost: herald\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n",
            api.key
        )
    };

    // Steady: 20 bytes, one every 300 ms (6 s in all, each gap < 1 s).
    let body = br#"{"name":"trickled"} "#;
    let mut steady = TcpStream::connect(&addr).await.unwrap();
    steady.write_all(head(body.len()).as_bytes()).await.unwrap();
    for byte in body {
        steady.write_all(&[*byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), steady.read(&mut answer))
        .await
        .expect("the steady request is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    // Stalled: 10 of 1,000 promised bytes, then nothing.
    let started = Instant::now();
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled.write_all(head(1000).as_bytes()).await.unwrap();
    stalled.write_all(br#"{"name":"s"#).await.unwrap();
    let seen = read_until_closed(&mut stalled, Duration::from_secs(10))
        .await
        .expect("a stalled body is cut off");
    let seen = String::from_utf8_lossy(&seen);
    assert!(
        seen.starts_with("HTTP/1.1 4") && seen.contains(r#""error""#),
        "{seen}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after {:?}",
        started.elapsed()
    );
    let (_, lists) = api.get("/v1/lists").await;
    let names: Vec<_> = lists["items"]
        .as_array()
        .expect("a page of lists")
        .iter()
        .map(|l| l["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["trickled"], "the stalled request created nothing");
}

/// 2,000 idle connections, under the default `--max-connections` of 2,048,
/// do not keep a newcomer from being served at once: the server raised its
/// descriptor limit and accepts them all.
#[tokio::test]
async fn two_thousand_idle_connections_leave_healthz_answering() {
    const IDLE: usize = 2000;
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    if limit < (IDLE as u64) + 512 {
        eprintln!("descriptor limit {limit} is below {IDLE} + 512 (ulimit -Hn): skipped");
        return;
    }
    let herald = Herald::start(Backend::Sqlite, &[]).await;
    let addr = address(&herald);
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(&addr).await.expect("connect"));
    }
    // The last idle connection is accepted (it is answered) before the
    // newcomers are timed: the server has had its chance to fill up.
    let last = idle.last_mut().expect("idle connections");
    last.write_all(b"GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), last.read(&mut answer))
        .await
        .expect("the 2,000th connection is served")
        .unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));

    let mut took = Vec::new();
    for _ in 0..10 {
        // A new connection each time: a newcomer, not a kept-alive one.
        let client = reqwest::Client::new();
        let started = Instant::now();
        let status = client
            .get(format!("{}/healthz", herald.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("healthz answers")
            .status();
        took.push(started.elapsed());
        assert_eq!(status, 200);
    }
    took.sort();
    assert!(
        took[took.len() / 2] < Duration::from_millis(100),
        "healthz with {IDLE} idle connections: {took:?}"
    );
    drop(idle);
}
