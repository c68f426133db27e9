//! A short-lived cache of channels for the send and webhook paths, so a
//! campaign of thousands does not read its channel thousands of times (nor
//! twice more per message for its receipts). Entries live one second: a
//! channel edit (e.g. switching its plugin) applies to the next send after
//! that.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::{Channel, Id, Store, StoreResult};

const TTL: Duration = Duration::from_secs(1);

pub struct ChannelCache {
    store: Store,
    entries: Mutex<HashMap<Id, (Instant, Arc<Channel>)>>,
}

impl ChannelCache {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            entries: Mutex::default(),
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
