//! Completion checks asked for by the send path (outcomes written, status
//! callbacks applied), coalesced: a sending campaign gets an outcome and a
//! callback per member, and asking the database after each whether the
//! campaign is finished cost a statement per message, almost always
//! answered "not yet". Each campaign is checked at most once per
//! [`COALESCE`], a little after the change that may have finished it.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

use super::Engine;
use crate::store::Id;

/// How long a check waits for other changes to the same campaigns.
const COALESCE: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct CompletionChecks {
    due: Mutex<BTreeSet<Id>>,
    asked: Notify,
}

impl CompletionChecks {
    /// These campaigns may have finished: check them soon.
    pub fn ask(&self, campaigns: &[Id]) {
        if campaigns.is_empty() {
            return;
        }
        self.due
            .lock()
            .expect("never poisoned")
            .extend(campaigns.iter().copied());
        self.asked.notify_one();
    }

    /// Checks what was asked, until the process stops.
    pub async fn run(&self, engine: &Engine) {
        loop {
            self.asked.notified().await;
            tokio::time::sleep(COALESCE).await;
            self.check_now(engine).await;
        }
    }

    /// Checks what is waiting at once (the drain: nothing is left unasked).
    pub async fn check_now(&self, engine: &Engine) {
        let due: Vec<Id> = std::mem::take(&mut *self.due.lock().expect("never poisoned"))
            .into_iter()
            .collect();
        engine.complete_campaigns(&due).await;
    }
}
