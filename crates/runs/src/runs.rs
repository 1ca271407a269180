//! The run manager: the index of runs, recovery at open, and what the rest of the
//! daemon reads of it. Writes are in `write.rs`, the disconnect sweep in `sweep.rs`,
//! reads in `query.rs`, complete/cancel/resume in `lifecycle.rs`.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use tether_core::{AgentId, Caller, stamp};
use tether_events::{EventBus, Scope};
use tether_proto::runs::{Ended, RunRecord, RunStatus, Termination};
use tether_store::{Kind, Record, Recovered, RunStore};
use ulid::Ulid;

use crate::config::RunsConfig;
use crate::error::RunsError;
use crate::records::{rebuild, to_json};
use crate::run::Run;
use crate::tools::ToolBounds;

/// Told whether each executed tool action of an agent succeeded (the breakers listen).
pub type ActionOutcomes = Box<dyn Fn(&str, bool) + Send + Sync>;

pub struct Runs {
    /// Itself, for what outlives a call (a connection's runs state, sweeps).
    pub(crate) me: Weak<Runs>,
    /// The local journal, or a database several daemons share.
    pub(crate) store: Arc<dyn RunStore>,
    pub(crate) config: RunsConfig,
    pub(crate) tool_bounds: ToolBounds,
    pub(crate) index: Mutex<Index>,
    pub(crate) events: Arc<EventBus>,
    pub(crate) outcomes: std::sync::OnceLock<ActionOutcomes>,
    /// Counts for `/metrics` as they happen (runs started and ended, tool calls),
    /// from the start: runs the previous process left open end during `open`.
    pub(crate) observer: Arc<dyn tether_telemetry::Observe>,
    /// Where a run's budget breach is asked about (the approvals board).
    pub(crate) budget_gate: std::sync::OnceLock<Arc<dyn crate::budget::BudgetGate>>,
    /// One retention pass at a time: two would pick the same runs and journal their
    /// tombstones twice. Held across the pass's journal writes; never on a request's path.
    pub(crate) retaining: tokio::sync::Mutex<()>,
}

#[derive(Default)]
pub(crate) struct Index {
    /// Keyed by ids the daemon mints: a fast hash (seeded per process) is enough.
    pub(crate) runs: HashMap<Ulid, Arc<Run>, foldhash::fast::RandomState>,
    /// Every run by its list key: iterating backwards is newest first.
    pub(crate) all: BTreeMap<u64, Ulid>,
    pub(crate) by_agent: HashMap<String, BTreeMap<u64, Ulid>>,
    /// (agent, idempotency key) → the connection that used it and its run.
    pub(crate) idempotency: HashMap<(String, String), (u64, Ulid)>,
    /// Keys a start is journalling a run under (`write.rs` `KeyHeld`), each locked
    /// until that run is indexed: at most one entry per start in flight.
    pub(crate) starting: HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>,
    last_key: u64,
}

impl Index {
    /// The next list key (from 1: a cursor of 0 means "from the newest").
    pub(crate) fn next_key(&mut self) -> u64 {
        self.last_key += 1;
        self.last_key
    }

    pub(crate) fn insert(&mut self, run: Arc<Run>) {
        self.all.insert(run.key, run.id);
        self.by_agent.entry(run.agent_id.to_string()).or_default().insert(run.key, run.id);
        self.runs.insert(run.id, run);
    }

    pub(crate) fn remove(&mut self, id: &Ulid) {
        let Some(run) = self.runs.remove(id) else { return };
        self.all.remove(&run.key);
        if let Some(keys) = self.by_agent.get_mut(run.agent_id.as_str()) {
            keys.remove(&run.key);
            if keys.is_empty() {
                self.by_agent.remove(run.agent_id.as_str());
            }
        }
    }
}

impl Runs {
    /// Rebuilds every run from the journal and ends, durably, each one still in
    /// progress: its owner went away with the previous process. A run the journal
    /// flagged (records lost or corrupt) is kept as it is: never re-ended, never
    /// forgotten; only runs whose eviction was recorded are forgotten.
    pub async fn open(
        store: Arc<dyn RunStore>,
        recovered: Recovered,
        config: RunsConfig,
        events: Arc<EventBus>,
        observer: Arc<dyn tether_telemetry::Observe>,
    ) -> Result<Arc<Runs>, RunsError> {
        let mut index = Index::default();
        let mut orphans = Vec::new();
        let mut detached = Vec::new();
        for found in recovered.runs {
            if found.tombstoned {
                continue;
            }
            let (run, left_open) = rebuild(found, index.next_key());
            let reattachable = run.state.lock().reattachable;
            if left_open && reattachable {
                run.state.lock().status = RunStatus::Detached;
            }
            let run = Arc::new(run);
            if left_open && reattachable {
                detached.push(run.clone());
            } else if left_open {
                orphans.push(run.clone());
            }
            index.insert(run);
        }
        let runs = Arc::new_cyclic(|me| Runs {
            me: me.clone(),
            store,
            tool_bounds: ToolBounds::of(&config),
            config,
            index: Mutex::new(index),
            events,
            outcomes: std::sync::OnceLock::new(),
            observer,
            budget_gate: std::sync::OnceLock::new(),
            retaining: tokio::sync::Mutex::new(()),
        });
        runs.end_all_incomplete(&orphans).await?;
        if !orphans.is_empty() {
            tracing::info!(runs = orphans.len(), "ended runs left in progress by the previous process as incomplete");
        }
        for run in &detached {
            runs.load_recorded(run).await?;
        }
        if !detached.is_empty() {
            let grace = runs.config.reattach_grace_ms;
            tracing::info!(runs = detached.len(), grace_ms = grace, "reattachable runs wait detached for their owners");
            runs.expire_detached_later(detached);
        }
        runs.retain(None, time::OffsetDateTime::now_utc()).await;
        Runs::spawn_sweeper(Arc::downgrade(&runs));
        Ok(runs)
    }

    /// One durable batch for every orphan found at boot.
    async fn end_all_incomplete(&self, orphans: &[Arc<Run>]) -> Result<(), RunsError> {
        let ended_at = stamp::now();
        let mut records = Vec::with_capacity(orphans.len());
        for run in orphans {
            let seq = run.state.lock().records;
            let record = RunRecord::Ended(Ended {
                run_id: run.id.to_string(),
                agent_id: run.agent_id.to_string(),
                termination: Termination::Incomplete,
                ended_at: ended_at.clone(),
            });
            records.push(Record { kind: Kind::Ended, run_id: run.id, seq, payload: to_json(&record) });
        }
        if records.is_empty() {
            return Ok(());
        }
        self.store.append(&records).await?;
        for run in orphans {
            {
                let mut state = run.state.lock();
                state.records += 1;
                state.status = RunStatus::Incomplete;
                state.ended_at = Some(ended_at.clone());
            }
            self.ended(run, RunStatus::Incomplete);
        }
        Ok(())
    }

    pub(crate) fn get(&self, run_id: &str) -> Option<Arc<Run>> {
        let id = Ulid::from_string(run_id).ok()?;
        self.index.lock().runs.get(&id).cloned()
    }

    /// The run, if the caller may see it; otherwise the same error as for an unknown run.
    pub(crate) fn readable(&self, caller: &Caller, run_id: &str) -> Result<Arc<Run>, RunsError> {
        self.get(run_id)
            .filter(|run| run.readable_by(caller.principal()))
            .ok_or_else(|| RunsError::UnknownRun(run_id.to_owned()))
    }

    pub(crate) fn resumable(&self, caller: &Caller) -> bool {
        caller.has_capability(tether_proto::runs::RESUME_CAPABILITY)
    }

    /// How many runs of the index are in each status (for metrics).
    pub fn status_counts(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        for run in self.index.lock().runs.values() {
            let status = match run.state.lock().status {
                RunStatus::InProgress => "in_progress",
                RunStatus::Completed => "completed",
                RunStatus::Incomplete => "incomplete",
                RunStatus::Cancelled => "cancelled",
                RunStatus::Detached => "detached",
                RunStatus::BudgetExceeded => "budget_exceeded",
            };
            *counts.entry(status).or_default() += 1;
        }
        counts.into_iter().map(|(status, n)| (status.to_owned(), n)).collect()
    }

    /// Which store the runs live in (and this node's lease, in a shared one).
    pub fn store_info(&self) -> tether_store::StoreInfo {
        self.store.info()
    }

    /// What keeps the runs domain from working as it should (for `/healthz`).
    pub fn problems(&self) -> Vec<String> {
        self.store.problems()
    }

    /// Tells whoever listens whether an agent's tool action succeeded.
    pub fn on_action_outcome(&self, listener: ActionOutcomes) {
        let _ = self.outcomes.set(listener);
    }

    pub(crate) fn observer(&self) -> &dyn tether_telemetry::Observe {
        self.observer.as_ref()
    }

    pub(crate) fn report_outcome(&self, agent: &str, ok: bool) {
        if let Some(listener) = self.outcomes.get() {
            listener(agent, ok);
        }
    }
}

pub(crate) fn run_scope(run: &Ulid, agent: &AgentId) -> Scope {
    Scope {
        session_id: agent.session_id().map(Arc::from),
        run_id: Some(run.to_string().into()),
        agent_id: Some(agent.to_string().into()),
    }
}

pub(crate) fn status_name(status: RunStatus) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
