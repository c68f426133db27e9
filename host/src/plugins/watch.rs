//! Development mode (`--watch`): reinstalls and activates a plugin when its
//! file in the plugins directory changes. Polls once a second: portable, and
//! a rebuilt component is usually written in one go anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::Registry;

const POLL: Duration = Duration::from_secs(1);

pub async fn watch_dir(registry: Arc<Registry>, dir: PathBuf) {
    let mut seen = snapshot(&dir);
    loop {
        tokio::time::sleep(POLL).await;
        let now = snapshot(&dir);
        for (path, stamp) in &now {
            if seen.get(path) == Some(stamp) {
                continue;
            }
            tracing::info!(path = %path.display(), "plugin file changed; reloading");
            if let Err(e) = registry.install_file(path).await {
                tracing::error!(path = %path.display(), error = %e, "reloading plugin failed; the previous version stays active");
            }
        }
        seen = now;
    }
}

fn snapshot(dir: &Path) -> HashMap<PathBuf, (SystemTime, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), (meta.modified().ok()?, meta.len())))
        })
        .collect()
}
