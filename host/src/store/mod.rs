//! All SQL lives here, behind one repository API used by `api` and `engine`.
//!
//! One dialect serves SQLite and PostgreSQL through sqlx's `Any` driver: `$N`
//! placeholders, integer milliseconds for time, `INSERT .. RETURNING`, and
//! `ON CONFLICT`. The few differences (row locking for claims) are switched on
//! [`Backend`].

mod api_keys;
mod audience;
mod calls;
mod campaign_edit;
mod campaign_list;
mod campaign_tags;
mod campaigns;
mod channel_progress;
mod channel_revisions;
mod channels;
mod checkpoint;
mod claimed;
mod console_sessions;
mod contacts;
mod conversations;
mod credit_holds;
mod credits;
mod dedupe;
mod dnc;
mod end_date;
mod enrolment;
mod fair_claim;
mod follow_up_claims;
mod holds;
mod import_batch;
mod imports;
#[cfg(test)]
mod in_place_tests;
mod instances;
mod journey_advance;
mod journeys;
mod json_rows;
mod leases;
mod lifecycle;
mod media;
mod member_events;
mod member_list;
mod members;
mod message_templates;
mod outcome_rows;
mod performance;
mod plugin_allowlists;
mod plugin_canaries;
mod plugin_trust;
mod plugin_wasm;
mod plugins;
mod queue_front;
mod receipt_batch;
mod receipt_checks;
mod receipts;
mod resolve;
mod review;
mod schedule;
mod sealed;
mod send_checks;
mod send_window;
mod send_writes;
mod sender_slots;
mod sender_wait;
mod statistics;
mod tallies;
mod templates;
pub(crate) mod tenants;
#[cfg(test)]
mod test_store;
mod uncertain;
mod vacuum;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection as _, Executor};

pub use api_keys::{ApiKey, AuditEntry, PresentedKey};
pub use campaign_edit::CampaignEdit;
pub use campaign_list::{CampaignFilter, CampaignListPage, CampaignRow, PageAt};
pub use campaigns::{Campaign, NewCampaign, Progress};
pub use channel_progress::ChannelProgress;
pub use channel_revisions::SentWith;
pub use channels::{Channel, NewChannel};
pub use console_sessions::ConsoleSession;
pub use contacts::{Contact, ContactList, NewContact};
pub use conversations::{ConversationMessage, DueReply, InboundRecorded, NewInbound, Session};
pub use credit_holds::{Hold, Reserved, Settlement};
pub use credits::{CreditBalance, INSUFFICIENT_CREDITS, LedgerEntry, TopUp};
pub use dnc::DncEntry;
pub use enrolment::Enrolled;
pub use fair_claim::{PluginStanding, SendRoom};
pub use import_batch::{BatchResult, ImportBatch, PreparedBatch};
pub use imports::{Checkpoint, ImportCounts, ImportJob, ImportStatus, NewImportJob, RejectedRow};
pub use journeys::{JourneyEvent, JourneyView, NextOutreach};
pub use media::{Media, MediaBlob, MediaChunk, NewMedia};
pub use member_list::{Member, MemberFilter};
pub use members::{ClaimedMember, OverdueReceipt, SendOutcome};
pub use message_templates::MessageTemplate;
pub use performance::MinuteActivity;
pub use plugin_canaries::{CanaryEnd, CanaryRow, NewCanary};
pub use plugin_trust::{NewPluginSignature, PluginSignatureRow, TrustedKeyRow};
pub use plugins::{NewPluginVersion, PluginStateRow, PluginVersionRow, listen_plugin_changes};
pub use receipts::Receipt;
pub use resolve::Resolution;
pub use review::Selection;
pub use schedule::TimingEdit;
pub use send_writes::{SendWrites, Written};
pub use sender_slots::SlotRun;
pub use tallies::FOLD_EVERY as TALLY_FOLD_EVERY;
pub use templates::ChannelTemplate;
pub use tenants::ReplySettings;
pub use tenants::Tenant;
pub use uncertain::UncertainSend;
pub use vacuum::{AutovacuumState, TableUpkeep, Upkeep, UpkeepRound};

/// Ids of every kind are database-assigned 64-bit integers.
pub type Id = i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    /// Reads, and the few writes that stand alone.
    pool: AnyPool,
    /// Write transactions ([`Store::write_tx`]). On SQLite one connection:
    /// writers queue here, in order and without sleeping, instead of
    /// polling SQLite's lock in its busy handler (which backs off up to
    /// 100 ms a try and made every send wait for the others). On PostgreSQL
    /// the same pool as reads.
    writer: AnyPool,
    /// On SQLite, the WAL checkpoints run off the writer (see `checkpoint`).
    _checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    backend: Backend,
    /// Seals the secrets written and opens the secrets read (`sealed`).
    keys: std::sync::Arc<crate::sealing::Keyring>,
    /// Where this instance's claims start in each campaign's queue
    /// (PostgreSQL; see `queue_front`).
    queue_fronts: std::sync::Arc<queue_front::QueueFronts>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The lifecycle table does not allow this action in this status.
    #[error(transparent)]
    Refused(#[from] crate::domain::lifecycle::Refused),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    /// A stored secret did not open with the key file's keys.
    #[error("a stored secret cannot be opened: {0}")]
    Sealed(#[from] crate::sealing::OpenError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Milliseconds since the Unix epoch, the only time format in the database,
/// on Herald's clock (real time unless the test clock is on: see
/// [`crate::clock`]).
pub fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl Store {
    /// Connects and migrates. `sqlite:herald.db` creates the file if missing.
    /// A store whose secrets are sealed under a key held in memory only:
    /// for databases that die with the process (tests, benchmarks, `herald
    /// plugin check`). The server uses [`Store::connect_sealed`].
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_sealed(url, crate::sealing::Keyring::ephemeral()).await
    }

    /// Connects, migrates, and checks that `keys` open the secrets already
    /// stored (sealing any stored before sealing existed): a wrong key file
    /// stops the start with a clear error instead of failing sends later.
    pub async fn connect_sealed(url: &str, keys: crate::sealing::Keyring) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else if url.starts_with("sqlite") {
            Backend::Sqlite
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite:FILE or postgres://...");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("bad database URL {url:?}"))?
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
        // `writes`: the pool of write transactions (SQLite's one writer).
        let connect = |max: u32, writes: bool| {
            let pool = AnyPoolOptions::new()
                .max_connections(max)
                // No ping before each use: it doubled the round trips of
                // every statement (a worker hop on SQLite, a network round
                // trip on PostgreSQL). sqlx still pings a connection when
                // it is released, and a broken one fails its statement.
                .test_before_acquire(false);
            // A PostgreSQL connection's buffers grow to the largest message
            // it carried (a plugin's bytes, an import's batch) and sqlx keeps
            // them: shrunk on release, or each of the sixteen could hold
            // megabytes for good. SQLite's connections have none to shrink.
            let pool = match backend {
                Backend::Postgres => pool.after_release(|conn, _| {
                    Box::pin(async move {
                        conn.shrink_buffers();
                        Ok(true)
                    })
                }),
                Backend::Sqlite => pool,
            };
            pool.after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        // Statement journals and sorts in memory: as
                        // files, each multi-row update of a write
                        // transaction created, wrote and deleted one.
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                        if writes {
                            conn.execute(
                                format!(
                                    "PRAGMA wal_autocheckpoint = {}",
                                    checkpoint::WRITER_CHECKPOINTS_AT
                                )
                                .as_str(),
                            )
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
        };
        // SQLite has one writer; a few connections serve concurrent reads.
        let pool = connect(
            match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            },
            false,
        )
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
        if backend == Backend::Sqlite {
            // WAL is a property of the file: set once, readers never block the writer.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        let writer = match backend {
            Backend::Sqlite => connect(1, true)
                .await
                .with_context(|| format!("cannot connect to {url}"))?,
            Backend::Postgres => pool.clone(),
        };
        let checkpointer = (backend == Backend::Sqlite)
            .then(|| std::sync::Arc::new(checkpoint::Checkpointer::start(pool.clone())));
        let store = Self {
            pool,
            writer,
            _checkpointer: checkpointer,
            backend,
            keys: std::sync::Arc::new(keys),
            queue_fronts: Default::default(),
        };
        store.migrate().await?;
        store.check_sealed_secrets().await?;
        Ok(store)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("../migrations/postgres"),
        };
        migrator
            .run(&self.pool)
            .await
            .context("running database migrations")?;
        Ok(())
    }

    /// Starts a transaction that will write. On SQLite it takes the write
    /// lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads
    /// first would fail with SQLITE_BUSY_SNAPSHOT instead of waiting its turn.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.writer.begin().await,
        }
    }

    /// A trivial query: the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Row-locking clause for claim queries: PostgreSQL instances skip rows
    /// another instance is claiming; SQLite serialises writers anyway.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    pub async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

/// `$start, $start+1, ...` placeholders for an `IN (...)` list.
fn placeholders(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Database ids written into the SQL of an `IN (...)` list. They are
/// integers (nothing to escape), the planner sees the values (see
/// `load_existing` for what a generic plan does with a long parameter
/// list), and nothing is bound (see `json_rows` in import_batch for
/// SQLite's cost per parameter).
fn id_list(ids: &[Id]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
