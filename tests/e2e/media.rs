//! Large media go through disk, not memory: a 64 MiB upload streamed without
//! a declared length is stored and fetched back by the provider byte for
//! byte, a 101 MiB one is refused at the limit, and the server's peak
//! resident memory grows by far less than either file.

use std::time::Duration;

use herald_sim::{SimConfig, Simulator};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::harness::{Backend, Herald};
use crate::support::{channel, create, eventually, list_of, run, twilio_config};

const PIECE: usize = 64 << 10;

/// Piece `i` of a file of pseudo-random bytes that starts as a PNG: the
/// sniffer accepts it, and no two pieces are alike (a store that mixed up
/// their order would change the hash).
fn piece(i: usize) -> Vec<u8> {
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut bytes: Vec<u8> = (0..PIECE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    if i == 0 {
        bytes[..16].copy_from_slice(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    }
    bytes
}

/// A chunked body of `pieces` pieces, generated as it is sent.
fn streamed(pieces: usize) -> reqwest::Body {
    reqwest::Body::wrap_stream(futures::stream::iter(
        (0..pieces).map(|i| Ok::<_, std::io::Error>(piece(i))),
    ))
}

fn sha256_of(pieces: usize) -> String {
    let mut hash = Sha256::new();
    for i in 0..pieces {
        hash.update(piece(i));
    }
    hex::encode(hash.finalize())
}

async fn large_media_stream_through_disk(backend: Backend) {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let herald = Herald::start(backend, &[]).await;
    let api = herald.new_tenant("acme").await;
    let (config, secrets) = twilio_config(&sim);
    let ch = channel(&api, "twilio-sms", "+15005550006", config, secrets).await;
    let list = list_of(&api, vec![json!({ "phone": "+14155557401" })]).await;
    let before = herald.peak_rss();

    // 64 MiB without a declared length: stored whole, hashed on the way.
    let pieces = (64 << 20) / PIECE;
    let (status, media) = api
        .post_stream("/v1/media?filename=film.png", streamed(pieces))
        .await;
    assert_eq!(status, 201, "{media}");
    let sha256 = sha256_of(pieces);
    assert_eq!(
        (media["size"].as_i64(), media["sha256"].as_str()),
        (Some(64 << 20), Some(sha256.as_str())),
        "{media}"
    );

    // 101 MiB without a declared length: refused at the 100 MB limit with
    // the JSON error, nothing stored.
    let (status, err) = api
        .post_stream("/v1/media", streamed((101 << 20) / PIECE))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (413, Some("too_large")),
        "{err}"
    );

    // The provider fetches the stored file back, byte for byte.
    let mms = create(
        &api,
        json!({ "name": "film", "type": "sms", "channel_id": ch, "list_id": list,
            "body": "Watch this", "media_id": media["id"] }),
    )
    .await;
    run(&api, mms, Duration::from_secs(60)).await;
    eventually(
        "the provider fetched the media",
        Duration::from_secs(30),
        || async { sim.stats().media_fetches >= 1 },
    )
    .await;
    let fetch = &sim.messages_for("twilio")[0].media_fetches[0];
    assert_eq!(
        (
            fetch.status,
            fetch.content_type.as_deref(),
            fetch.bytes,
            fetch.sha256.as_deref()
        ),
        (
            Some(200),
            Some("image/png"),
            64 << 20,
            Some(sha256.as_str())
        )
    );

    // 165 MiB went in and 64 MiB came out; holding either file whole would
    // have raised the peak by at least its size. (Streamed, it rises by a
    // few MiB: 256 KiB pieces copied through the database driver, whose
    // pooled connections each keep a read buffer the size of a piece.)
    let grown = herald.peak_rss().saturating_sub(before);
    eprintln!("peak RSS grew by {} MiB", grown >> 20);
    assert!(
        grown < 40 << 20,
        "peak RSS grew by {} MiB (from {} MiB)",
        grown >> 20,
        before >> 20
    );
}
both_backends!(large_media_stream_through_disk);
