//! The scale of state while a campaign runs: how long the pages a user
//! watches take to answer (campaign grid, progress, members pages) while
//! the engine sends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

/// How often each page is asked for (one after another, like a user with
/// several tabs open).
const EVERY: Duration = Duration::from_millis(250);

/// Latencies of each page, by its label, in the order they are printed.
pub type Latencies = Vec<(&'static str, Vec<Duration>)>;

pub struct Prober {
    samples: Arc<Mutex<BTreeMap<usize, Vec<Duration>>>>,
    pages: Vec<(&'static str, String)>,
    task: JoinHandle<()>,
}

impl Prober {
    /// Starts asking for the pages of campaign `id` (of `members` members,
    /// whose first member id is `first_member`) as tenant `key`.
    pub fn start(base: &str, key: &str, id: i64, first_member: i64, members: u64) -> Prober {
        let middle = first_member + members as i64 / 2;
        let pages = vec![
            ("campaign grid (first page)", "/v1/campaigns".to_owned()),
            ("campaign progress", format!("/v1/campaigns/{id}/progress")),
            (
                "members, first page of 100",
                format!("/v1/campaigns/{id}/members?limit=100"),
            ),
            (
                "members, a page of 100 in the middle",
                format!("/v1/campaigns/{id}/members?limit=100&cursor={middle}"),
            ),
            (
                "members filtered by status (delivered)",
                format!("/v1/campaigns/{id}/members?limit=100&status=delivered"),
            ),
        ];
        let samples: Arc<Mutex<BTreeMap<usize, Vec<Duration>>>> = Arc::default();
        let task = {
            let (samples, pages) = (samples.clone(), pages.clone());
            let (base, key) = (base.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                loop {
                    for (i, (_, path)) in pages.iter().enumerate() {
                        let asked = Instant::now();
                        let answer = http
                            .get(format!("{base}{path}"))
                            .bearer_auth(&key)
                            .send()
                            .await;
                        let ok = match answer {
                            Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                            _ => false,
                        };
                        assert!(ok, "{path} failed while the campaign ran");
                        samples
                            .lock()
                            .unwrap()
                            .entry(i)
                            .or_default()
                            .push(asked.elapsed());
                    }
                    tokio::time::sleep(EVERY).await;
                }
            })
        };
        Prober {
            samples,
            pages,
            task,
        }
    }

    pub fn stop(self) -> Latencies {
        self.task.abort();
        let mut samples = self.samples.lock().unwrap();
        self.pages
            .iter()
            .enumerate()
            .map(|(i, (label, _))| (*label, samples.remove(&i).unwrap_or_default()))
            .collect()
    }
}

/// The first member's id of campaign `id` (members pages are keyed by id).
pub async fn first_member(http: &reqwest::Client, base: &str, key: &str, id: i64) -> i64 {
    let page: Value = http
        .get(format!("{base}/v1/campaigns/{id}/members?limit=1"))
        .bearer_auth(key)
        .send()
        .await
        .expect("members page")
        .json()
        .await
        .expect("members page JSON");
    page["items"][0]["id"].as_i64().expect("a member")
}

/// The `q`-quantile (0..=1) of `samples`.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = ((sorted.len() as f64 - 1.0) * q).round().max(0.0) as usize;
    sorted.get(at).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
