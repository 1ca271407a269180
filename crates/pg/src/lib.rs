//! tether's PostgreSQL store: several daemons share one database.
//!
//! - Every write that adds to a run carries this node's **fence** in its SQL: a node
//!   whose fence is stale (another node took the run over) writes nothing and gets
//!   `StoreError::Fenced`. (Retention's `forget` deletes ended runs without one.)
//! - **Node leases** on the database's clock: each node heartbeats; any node's
//!   sweep declares a node dead once its lease expired and adopts its open runs.
//! - **Group commit** (`batch.rs`): appends waiting when a transaction ends go
//!   into the next one, acknowledged after COMMIT with `synchronous_commit = on`.
//! - Versioned migrations (`migrations/`) applied at start under an advisory lock.

mod batch;
mod board;
mod error;
mod events;
mod hints;
mod migrate;
mod node;
mod shared;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use parking_lot::{Mutex, RwLock};
use tether_store::{
    Kind, Record, Recovered, RecoveredRun, RunStore, SharedStore, StoreError, StoreFuture, StoreInfo, Then,
};
use tokio::sync::{mpsc, oneshot};
use ulid::Ulid;

pub(crate) use error::{Failure, db};
pub use events::EventSink;
pub use node::NodeStatus;

/// How long a dead node's row is kept after its lease ran out (a PostgreSQL interval).
const DEAD_NODES_KEPT: &str = "1 hour";

/// How to reach the database and how this node keeps its lease.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host/db` or `host=/run/postgresql dbname=tether` (libpq's forms).
    pub url: String,
    /// Stable across restarts: a node that restarts under the same name ends the
    /// runs its previous process left open at once, as a single daemon does.
    pub node_name: String,
    /// A node that has not renewed its lease for this long is dead to the others.
    pub lease: Duration,
    /// How often the lease is renewed (well under `lease`).
    pub heartbeat: Duration,
    /// Pooled connections for reads and control statements (the group-commit
    /// writer has a connection of its own).
    pub pool_size: usize,
    /// Appends per transaction, at most.
    pub max_batch: usize,
}

impl PgOptions {
    pub fn new(url: impl Into<String>, node_name: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            node_name: node_name.into(),
            lease: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            pool_size: 8,
            max_batch: 256,
        }
    }
}

/// This process's node id: fresh at every start, and again after an eviction.
#[derive(Clone, Default)]
pub(crate) struct NodeId(Arc<RwLock<String>>);

impl NodeId {
    pub(crate) fn get(&self) -> String {
        self.0.read().clone()
    }

    fn set(&self, id: String) {
        *self.0.write() = id;
    }
}

/// A handle on the shared store; clones share the pool, the writer and the lease.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgOptions,
    node: NodeId,
    pool: Pool,
    /// The runs this node may write, each with its fence (shared with the hint
    /// listener, which drops a run another node is seen writing).
    owned: Arc<Mutex<HashMap<Ulid, i64>>>,
    writer: mpsc::Sender<batch::Job>,
    status: Mutex<NodeStatus>,
    /// Runs another node (or this one) wrote, as LISTEN/NOTIFY hinted them.
    hints: tokio::sync::broadcast::Sender<Ulid>,
    /// Runs this node held that another node then wrote (taken over).
    moves: tokio::sync::broadcast::Sender<Ulid>,
    /// Rings when a node shared events.
    events_hint: tokio::sync::broadcast::Sender<()>,
    /// Held while this node re-registers after finding itself evicted.
    evicting: tokio::sync::Mutex<()>,
}

impl PgStore {
    /// Connects, migrates, registers this node and adopts what its previous
    /// process (same `node_name`) and dead nodes left open: those runs come back
    /// in `Recovered` for the runs domain to end or detach, as after a local crash.
    pub async fn open(options: PgOptions) -> Result<(PgStore, Recovered), StoreError> {
        let config = tls::Database::from_url(&options.url).map_err(|e| db(format!("store URL: {e}")))?;
        let manager = Manager::from_config(
            config.config.clone(),
            config.tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(options.pool_size.max(1)).build().map_err(db)?;
        let mut client = batch::connect(&config)
            .await
            .map_err(|e| db(format!("cannot reach the database: {}", tls::explain(&e))))?;
        migrate::apply(&mut client).await.map_err(db)?;
        let node = NodeId::default();
        node.set(node::register(&client, &options, true).await.map_err(db)?);
        drop(client);

        let (writer, jobs) = mpsc::channel(options.max_batch.max(1) * 4);
        let (hints, _) = tokio::sync::broadcast::channel(4096);
        let (events_hint, _) = tokio::sync::broadcast::channel(16);
        let owned_by_me: Arc<Mutex<HashMap<Ulid, i64>>> = Arc::default();
        let (moves, _) = tokio::sync::broadcast::channel(1024);
        let foreign: hints::Foreign = {
            let (owned, node, moved) = (owned_by_me.clone(), node.clone(), moves.clone());
            // Another node wrote a run this node thought it held: it was taken over.
            // (A hint of a write older than this node's fence is stale: ignored.)
            Arc::new(move |from: &str, run: Ulid, fence: i64| {
                let mut owned = owned.lock();
                if from != node.get() && owned.get(&run).is_some_and(|mine| fence >= *mine) {
                    owned.remove(&run);
                    tracing::info!(run = %run, by = from, "another node took over a run this node held");
                    let _ = moved.send(run);
                }
            })
        };
        hints::spawn_listener(config.clone(), hints.downgrade(), events_hint.downgrade(), foreign);
        let outbox = Arc::new(hints::Outbox::default());
        hints::spawn_notifier(config.clone(), node.clone(), outbox.clone());
        let inner = Arc::new(Inner {
            options: options.clone(),
            node: node.clone(),
            pool,
            owned: owned_by_me,
            writer,
            status: Mutex::new(NodeStatus::default()),
            hints,
            moves,
            events_hint,
            evicting: tokio::sync::Mutex::new(()),
        });
        let weak = Arc::downgrade(&inner);
        let evict_weak = Arc::downgrade(&inner);
        let evict: batch::Evict = Arc::new(move |dead: String| {
            let weak = evict_weak.clone();
            Box::pin(async move {
                if let Some(inner) = weak.upgrade() {
                    node::evicted(&inner, &dead).await;
                }
            })
        });
        tokio::spawn(batch::run(
            config.clone(),
            node,
            jobs,
            options.max_batch.max(1),
            evict,
            move |writes, outcome| {
                // After the commit, never inside it: followers on every node re-read these runs.
                outbox.push(writes.iter().filter(|w| outcome.written.contains(&w.run_id)).map(|w| (w.run_id, w.fence)));
                let Some(inner) = weak.upgrade() else { return };
                let mut owned = inner.owned.lock();
                for write in writes {
                    let ends = write.records.iter().any(|r| matches!(r.kind, Kind::Ended | Kind::Tombstone));
                    if !outcome.written.contains(&write.run_id) || ends {
                        owned.remove(&write.run_id);
                    } else if write.new_agent.is_some() {
                        owned.insert(write.run_id, write.fence);
                    }
                }
            },
        ));
        let store = PgStore { inner };
        let adopted = store.adopt().await?;
        node::spawn_heartbeat(Arc::downgrade(&store.inner));
        let recovered =
            Recovered { runs: adopted, truncated_bytes: 0, corrupt_frames: 0, unknown_kinds: 0, damage: Vec::new() };
        Ok((store, recovered))
    }

    /// Shares this node's events with every node: returns where to put this
    /// node's (JSON, never waiting) and where the other nodes' arrive.
    pub fn share_events(&self) -> (Arc<EventSink>, mpsc::Receiver<Vec<u8>>) {
        events::start(self.inner.pool.clone(), self.inner.node.clone(), self.inner.events_hint.subscribe())
    }

    /// This node's id (fresh per process).
    pub fn node_id(&self) -> String {
        self.inner.node.get()
    }

    /// The lease as this node last renewed it.
    pub fn status(&self) -> NodeStatus {
        self.inner.status.lock().clone()
    }

    /// Declares nodes whose lease expired dead and takes over their open runs
    /// (fence + 1 each). Safe on every node at once: a run goes to one of them.
    async fn adopt(&self) -> Result<Vec<RecoveredRun>, StoreError> {
        let mut client = self.inner.pool.get().await.map_err(db)?;
        let me = self.inner.node.get();
        let tx = client.transaction().await.map_err(db)?;
        tx.execute("UPDATE tether_nodes SET state = 'dead' WHERE state = 'alive' AND lease_until < now()", &[])
            .await
            .map_err(db)?;
        let rows = tx
            .query(
                "UPDATE tether_runs SET owner_node = $1, fence = fence + 1
                 WHERE NOT ended AND owner_node IN (SELECT node_id FROM tether_nodes WHERE state = 'dead')
                 RETURNING run_id, fence",
                &[&me],
            )
            .await
            .map_err(db)?;
        // A dead node's row outlives it by DEAD_NODES_KEPT (so `status` can still name
        // it), then goes: one row per daemon process ever started would grow forever.
        tx.execute(
            &format!(
                "DELETE FROM tether_nodes n WHERE state = 'dead' AND lease_until < now() - interval '{DEAD_NODES_KEPT}'
                 AND NOT EXISTS (SELECT 1 FROM tether_runs r WHERE r.owner_node = n.node_id)"
            ),
            &[],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let mut adopted = Vec::new();
        for row in rows {
            let Ok(run_id) = Ulid::from_string(row.get::<_, &str>(0)) else { continue };
            self.inner.owned.lock().insert(run_id, row.get(1));
            if let Some(found) = self.load(run_id).await? {
                adopted.push(found);
            }
        }
        if !adopted.is_empty() {
            tracing::info!(runs = adopted.len(), "took over runs left open by nodes that stopped renewing their lease");
        }
        Ok(adopted)
    }

    /// A run as the database has it now.
    async fn load(&self, run_id: Ulid) -> Result<Option<RecoveredRun>, StoreError> {
        let client = self.inner.pool.get().await.map_err(db)?;
        let statement = client
            .prepare_cached(
                "SELECT r.records, r.turns, s.payload, e.payload,
                        (SELECT coalesce(sum(octet_length(a.payload)), 0)::bigint
                         FROM tether_records a WHERE a.run_id = r.run_id AND a.kind IN (1, 2, 3))
                 FROM tether_runs r
                 LEFT JOIN tether_records s ON s.run_id = r.run_id AND s.seq = 0 AND s.kind = 1
                 LEFT JOIN tether_records e ON e.run_id = r.run_id AND e.seq = r.records - 1 AND e.kind = 3
                 WHERE r.run_id = $1",
            )
            .await
            .map_err(db)?;
        let Some(row) = client.query_opt(&statement, &[&run_id.to_string()]).await.map_err(db)? else {
            return Ok(None);
        };
        let mut run = RecoveredRun::new(run_id);
        run.records = row.get::<_, i32>(0) as u32;
        run.turns = row.get::<_, i32>(1) as u32;
        run.started = row.get(2);
        run.ended = row.get(3);
        run.bytes = row.get::<_, i64>(4) as u64;
        Ok(Some(run))
    }

    /// Groups an append's records by run, each under the fence this node holds.
    fn plan(&self, records: &[Record]) -> Result<Vec<batch::RunWrite>, StoreError> {
        let owned = self.inner.owned.lock();
        let mut writes: Vec<batch::RunWrite> = Vec::new();
        // Boot and retention append one record for each of thousands of runs at once.
        let mut at: HashMap<Ulid, usize> = HashMap::new();
        for record in records {
            if let Some(&i) = at.get(&record.run_id) {
                writes[i].records.push(record.clone());
                continue;
            }
            at.insert(record.run_id, writes.len());
            let started = (record.kind == Kind::Started && record.seq == 0).then(|| started_facts(&record.payload));
            let (new_agent, idempotency_key) = match started {
                Some((agent, key)) => {
                    storable("agent_id", &agent)?;
                    storable("idempotency_key", key.as_deref().unwrap_or_default())?;
                    (Some(agent), key)
                }
                None => (None, None),
            };
            let fence = match (new_agent.is_some(), owned.get(&record.run_id)) {
                (true, _) => 1,
                (false, Some(fence)) => *fence,
                // Retention drops ended runs; they need no fence.
                (false, None) if record.kind == Kind::Tombstone => 0,
                (false, None) => return Err(StoreError::Fenced { run_id: record.run_id }),
            };
            writes.push(batch::RunWrite {
                run_id: record.run_id,
                fence,
                new_agent,
                idempotency_key,
                records: vec![record.clone()],
            });
        }
        Ok(writes)
    }
}

/// Refuses, before any SQL, a string PostgreSQL cannot store in `text`: a NUL
/// (every other character of a Rust string is valid UTF-8, which the database's
/// encoding holds). Without this a NUL reached the server and came back as -32603.
fn storable(field: &'static str, value: &str) -> Result<(), StoreError> {
    match value.find('\0') {
        None => Ok(()),
        Some(at) => Err(StoreError::Unstorable {
            field,
            problem: format!("contains a NUL character at byte {at}, which PostgreSQL cannot store"),
        }),
    }
}

/// The agent and idempotency key a `started` record names (the runs table keeps
/// them as columns: listing by agent, one run per key across nodes).
fn started_facts(payload: &[u8]) -> (String, Option<String>) {
    let value = serde_json::from_slice::<serde_json::Value>(payload).unwrap_or_default();
    let text = |field: &str| value.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    (text("agent_id").unwrap_or_default(), text("idempotency_key"))
}

impl RunStore for PgStore {
    fn info(&self) -> StoreInfo {
        let status = self.status();
        StoreInfo {
            kind: "postgres",
            node: Some(self.node_id()),
            lease_until: status.lease_until,
            lease_renewed_ago: status.renewed.map(|at| at.elapsed()),
        }
    }

    fn append<'a>(&'a self, records: &'a [Record]) -> StoreFuture<'a, Result<(), StoreError>> {
        self.append_then(records, None)
    }

    fn append_then<'a>(&'a self, records: &'a [Record], then: Option<Then>) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if records.is_empty() {
                if let Some(then) = then {
                    then();
                }
                return Ok(());
            }
            let runs = self.plan(records)?;
            let (done, wait) = oneshot::channel();
            self.inner.writer.send(batch::Job { runs, done, then }).await.map_err(|_| StoreError::Stopped)?;
            wait.await.map_err(|_| StoreError::Stopped)?
        })
    }

    fn read(&self, run_id: Ulid, range: Range<usize>) -> StoreFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(async move {
            let (from, to) = (range.start.min(i32::MAX as usize) as i32, range.end.min(i32::MAX as usize) as i32);
            if from >= to {
                return Ok(Vec::new());
            }
            let client = self.inner.pool.get().await.map_err(db)?;
            let statement = client
                .prepare_cached(
                    "SELECT seq, kind, payload FROM tether_records
                     WHERE run_id = $1 AND seq >= $2 AND seq < $3 ORDER BY seq",
                )
                .await
                .map_err(db)?;
            let rows = client.query(&statement, &[&run_id.to_string(), &from, &to]).await.map_err(db)?;
            Ok(rows
                .into_iter()
                .map(|row| Record {
                    kind: Kind::from_code(row.get::<_, i16>(1) as u8),
                    run_id,
                    seq: row.get::<_, i32>(0) as u32,
                    payload: row.get(2),
                })
                .collect())
        })
    }

    fn forget<'a>(&'a self, run_ids: &'a [Ulid]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let ids: Vec<String> = run_ids.iter().map(Ulid::to_string).collect();
            let deleted = match self.inner.pool.get().await {
                Ok(client) => client.execute("DELETE FROM tether_runs WHERE run_id = ANY($1)", &[&ids]).await,
                Err(error) => {
                    tracing::warn!(%error, "retention: cannot reach the database");
                    return;
                }
            };
            if let Err(error) = deleted {
                tracing::warn!(%error, "retention: could not delete runs");
            }
            let mut owned = self.inner.owned.lock();
            for id in run_ids {
                owned.remove(id);
            }
        })
    }

    fn problems(&self) -> Vec<String> {
        self.inner.status.lock().problem().into_iter().collect()
    }

    fn shared(&self) -> Option<&dyn SharedStore> {
        Some(self)
    }
}
