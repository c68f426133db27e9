//! MMS media: Twilio fetches every `MediaUrl` itself before sending, so the
//! simulator does too (loopback URLs only), recording what it got in
//! [`crate::ReceivedMessage::media_fetches`]. A fetch that fails fails the
//! message with Twilio's 11200 (HTTP retrieval failure).

use sha2::{Digest, Sha256};

use crate::twilio::is_loopback;
use crate::{MediaFetch, Shared};

/// Fetches the media of message `sid` in order; true when all succeeded
/// (or there were none). False too if a reset forgot the message.
pub(crate) async fn fetch_all(shared: &Shared, sid: &str, epoch: u64) -> bool {
    let urls = shared
        .lock()
        .message_mut(sid)
        .map(|m| m.media_urls.clone())
        .unwrap_or_default();
    let mut all_ok = true;
    for url in urls {
        let fetched = fetch(shared, &url).await;
        let ok = fetched.status.is_some_and(|s| (200..300).contains(&s));
        all_ok &= ok;
        let mut state = shared.lock();
        if state.epoch != epoch {
            return false;
        }
        if ok {
            state.stats.media_fetches += 1;
        } else {
            state.stats.media_fetch_failures += 1;
        }
        if let Some(message) = state.message_mut(sid) {
            message.media_fetches.push(fetched);
        }
    }
    all_ok
}

async fn fetch(shared: &Shared, url: &str) -> MediaFetch {
    let mut fetched = MediaFetch {
        url: url.to_owned(),
        ..MediaFetch::default()
    };
    if !is_loopback(url) {
        tracing::warn!(
            url,
            "media not fetched: the simulator only calls loopback addresses"
        );
        return fetched;
    }
    match shared.http.get(url).send().await {
        Ok(mut response) => {
            fetched.status = Some(response.status().as_u16());
            fetched.content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            // Piece by piece, as a provider would: a large file is never
            // held whole.
            let mut hash = Sha256::new();
            while let Ok(Some(chunk)) = response.chunk().await {
                fetched.bytes += chunk.len() as u64;
                hash.update(&chunk);
            }
            fetched.sha256 = Some(format!("{:x}", hash.finalize()));
        }
        Err(error) => tracing::debug!(url, %error, "media fetch failed"),
    }
    fetched
}
