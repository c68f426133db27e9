//! The ids the simulator hands out (message sids, tokens): unique per
//! simulator, in order from one counter, so a test can know the next ones.

use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};

use crate::{Shared, Simulator};

impl Shared {
    /// A fresh unique id: `prefix` + 32 lowercase hex digits.
    pub(crate) fn new_id(&self, prefix: &str) -> String {
        self.id_at(prefix, self.id_counter.fetch_add(1, Ordering::Relaxed))
    }

    /// The `n`th id the simulator gives out (see [`Self::new_id`]).
    pub(crate) fn id_at(&self, prefix: &str, n: u64) -> String {
        let digest = Sha256::new()
            .chain_update(self.id_seed.to_le_bytes())
            .chain_update(n.to_le_bytes())
            .finalize();
        let mut id = String::with_capacity(prefix.len() + 32);
        id.push_str(prefix);
        for byte in &digest[..16] {
            id.push_str(&format!("{byte:02x}"));
        }
        id
    }
}

impl Simulator {
    /// The ids the next `n` resources the simulator creates will have
    /// (`prefix` "SM": Twilio message sids), for a test that must know a
    /// message's id before it is sent (a status callback that beats the
    /// send's own answer). Holds only while nothing else is created
    /// meanwhile: ids are handed out in order from one counter.
    pub fn upcoming_ids(&self, prefix: &str, n: u64) -> Vec<String> {
        let next = self.shared.id_counter.load(Ordering::Relaxed);
        (next..next + n)
            .map(|i| self.shared.id_at(prefix, i))
            .collect()
    }
}
