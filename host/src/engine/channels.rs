//! A short-lived cache of channels for the send and webhook paths, so a
//! campaign of thousands does not read its channel thousands of times (nor
//! twice more per message for its receipts). Entries live one second: a
//! channel edit (e.g. switching its plugin) applies to the next send after
//! that. Earlier revisions of a channel (the settings sends made before an
//! edit went out with) never change, and are kept a while longer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Channel, Id, Store, StoreResult};

const TTL: Duration = Duration::from_secs(1);

/// Earlier revisions kept at most; past this the map starts again.
const MAX_REVISIONS: usize = 1024;

pub struct ChannelCache {
    store: Store,
    entries: Mutex<HashMap<Id, (Instant, Arc<Channel>)>>,
    revisions: Mutex<HashMap<(Id, i64), Arc<Channel>>>,
}

impl ChannelCache {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: Mutex::default(),
            revisions: Mutex::default(),
        }
    }

    pub fn forget(&self, id: Id) {
        self.entries.lock().expect("cache lock").remove(&id);
    }

    pub async fn get(&self, tenant: Id, id: Id) -> StoreResult<Arc<Channel>> {
        if let Some((at, channel)) = self.entries.lock().expect("cache lock").get(&id)
            && at.elapsed() < TTL
            && channel.tenant_id == tenant
        {
            return Ok(channel.clone());
        }
        let channel = Arc::new(self.store.channel(tenant, id).await?);
        self.entries
            .lock()
            .expect("cache lock")
            .insert(id, (Instant::now(), channel.clone()));
        Ok(channel)
    }

    /// The channel with the settings of `revision` (the current ones when
    /// `None` or current): what a send made with it is checked and looked
    /// up with.
    pub async fn at_revision(
        &self,
        tenant: Id,
        id: Id,
        revision: Option<i64>,
    ) -> StoreResult<Arc<Channel>> {
        let current = self.get(tenant, id).await?;
        let Some(revision) = revision.filter(|r| *r != current.revision) else {
            return Ok(current);
        };
        if let Some(channel) = self
            .revisions
            .lock()
            .expect("cache lock")
            .get(&(id, revision))
        {
            return Ok(channel.clone());
        }
        let channel = Arc::new(self.store.channel_at_revision(tenant, id, revision).await?);
        let mut revisions = self.revisions.lock().expect("cache lock");
        if revisions.len() >= MAX_REVISIONS {
            revisions.clear();
        }
        revisions.insert((id, revision), channel.clone());
        Ok(channel)
    }

    /// A channel by id alone, for a webhook (which names no tenant).
    pub async fn for_webhook(&self, id: Id) -> StoreResult<Arc<Channel>> {
        if let Some((at, channel)) = self.entries.lock().expect("cache lock").get(&id)
            && at.elapsed() < TTL
        {
            return Ok(channel.clone());
        }
        let channel = Arc::new(self.store.channel_for_webhook(id).await?);
        self.entries
            .lock()
            .expect("cache lock")
            .insert(id, (Instant::now(), channel.clone()));
        Ok(channel)
    }
}
