//! `herald_sends_total` of one plugin version, by content kind and outcome.

use std::collections::HashMap;
use std::sync::Mutex;

use metrics::Counter;

/// A version's send counters, each registered on its first send and kept:
/// looked up per send, its four labels (two of them strings allocated for
/// the purpose) were hashed and compared in the recorder's registry every
/// time, about 1% of Herald's CPU on the send path.
#[derive(Default)]
pub struct SendCounters(Mutex<HashMap<(&'static str, &'static str), Counter>>);

impl SendCounters {
    /// The counter of `plugin` `version`'s sends of `kind` that ended in
    /// `outcome`.
    pub fn get(
        &self,
        plugin: &str,
        version: &str,
        kind: &'static str,
        outcome: &'static str,
    ) -> Counter {
        let mut counters = self.0.lock().expect("send counters poisoned");
        counters
            .entry((kind, outcome))
            .or_insert_with(|| {
                metrics::counter!(
                    "herald_sends_total",
                    "kind" => kind,
                    "plugin" => plugin.to_owned(),
                    "version" => version.to_owned(),
                    "outcome" => outcome
                )
            })
            .clone()
    }
}
