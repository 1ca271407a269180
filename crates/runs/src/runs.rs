//! The run manager: starting, appending durably, ending, sweeping orphans.

use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Weak};

use serde_json::json;
use tether_core::{AgentId, Caller, stamp};
use tether_events::{EventBus, Scope};
use tether_proto::events::{Published, RunDetachedPayload, RunEndedPayload, RunStartedPayload, RunTurnPayload};
use tether_proto::proposal::ActionStatus;
use tether_proto::runs::{Ended, RunRecord, RunStatus, StartParams, StartResult, Started, Termination, Turn};
use tether_store::{Kind, Record, Recovered, RunStore};
use ulid::Ulid;

use crate::agent::{self, resolve_agent};
use crate::config::RunsConfig;
use crate::conn::Conn;
use crate::error::RunsError;
use crate::reattach;
use crate::records::{corrupt_or, parse_record, rebuild, to_json};
use crate::run::{Run, RunState};
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
    /// One retention pass at a time: two would pick the same runs and journal their
    /// tombstones twice. Held across the pass's journal writes; never on a request's path.
    pub(crate) retaining: tokio::sync::Mutex<()>,
}

#[derive(Default)]
pub(crate) struct Index {
    pub(crate) runs: HashMap<Ulid, Arc<Run>>,
    /// Every run by its list key: iterating backwards is newest first.
    pub(crate) all: BTreeMap<u64, Ulid>,
    pub(crate) by_agent: HashMap<String, BTreeMap<u64, Ulid>>,
    /// (agent, idempotency key) → the connection that used it and its run.
    pub(crate) idempotency: HashMap<(String, String), (u64, Ulid)>,
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
            let mut state = run.state.lock();
            state.records += 1;
            state.status = RunStatus::Incomplete;
            state.ended_at = Some(ended_at.clone());
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

    pub async fn start(&self, caller: &Caller, params: StartParams) -> Result<StartResult, RunsError> {
        agent::check_start(&params, &self.config)?;
        let agent_id = resolve_agent(caller.principal(), params.agent_id, params.agent_name)?;
        let agent_key = agent_id.to_string();
        let conn = caller.connection().id();
        let client_id = format!("conn-{conn}");
        if let Some(key) = &params.idempotency_key {
            let known = self.index.lock().idempotency.get(&(agent_key.clone(), key.clone())).copied();
            match known {
                Some((owner, run_id)) if owner == conn => {
                    self.with_conn(caller, |c| c.current = Some(run_id));
                    return Ok(StartResult {
                        run_id: run_id.to_string(),
                        agent_id: agent_key,
                        client_id,
                        resume_token: None,
                    });
                }
                Some(_) => return Err(key_taken(key)),
                None => {
                    // Another node may have started it (a shared store).
                    if let Some(shared) = self.store.shared()
                        && shared.find_key(&agent_key, key).await?.is_some()
                    {
                        return Err(key_taken(key));
                    }
                }
            }
        }
        let active = self.active_runs(&agent_key);
        if active >= self.config.max_active_runs_per_agent {
            return Err(RunsError::Limit {
                what: "too many runs in progress for this agent",
                limit: "runs.max_active_runs_per_agent",
                value: self.config.max_active_runs_per_agent,
            });
        }
        let reattachable = caller.has_capability(tether_proto::runs::REATTACH_CAPABILITY);
        let (resume_token, token_hash) = match reattachable {
            true => {
                let (token, hash) = reattach::new_token()?;
                (Some(token), Some(hash))
            }
            false => (None, None),
        };
        let id = tether_core::new_id();
        let started = Started {
            run_id: id.to_string(),
            agent_id: agent_key.clone(),
            client_id: client_id.clone(),
            intent: params.intent.clone(),
            started_at: stamp::now(),
            session_id: agent_id.session_id().map(str::to_owned),
            idempotency_key: params.idempotency_key.clone(),
            reattachable,
            resume_token_sha256: token_hash.clone(),
        };
        let payload = to_json(&RunRecord::Started(started.clone()));
        match self.store.append(&[Record { kind: Kind::Started, run_id: id, seq: 0, payload }]).await {
            // Two nodes started runs under one key at once: the database kept the other.
            Err(tether_store::StoreError::Duplicate { .. }) => {
                return Err(key_taken(params.idempotency_key.as_deref().unwrap_or_default()));
            }
            appended => appended?,
        }

        let mut state = RunState::in_progress(Some(conn));
        state.records = 1;
        state.reattachable = reattachable;
        state.token = token_hash.as_deref().and_then(reattach::parse_hash);
        {
            let mut index = self.index.lock();
            let key = index.next_key();
            index.insert(Arc::new(Run::new(
                id,
                key,
                agent_id.clone(),
                params.intent,
                started.started_at.clone(),
                state,
            )));
            if let Some(key) = params.idempotency_key {
                index.idempotency.insert((agent_key.clone(), key), (conn, id));
            }
        }
        let payload = RunStartedPayload { intent: started.intent, status: RunStatus::InProgress };
        self.events.emit(Published::RunStarted(payload), run_scope(&id, &agent_id));
        // The run is the connection's current run before the reply goes out. Had the
        // connection closed meanwhile, its state is this call's alone, and swept as
        // this call lets it go.
        self.with_conn(caller, |c| {
            c.current = Some(id);
            c.owned.insert(id, 0);
        });
        Ok(StartResult { run_id: id.to_string(), agent_id: agent_key, client_id, resume_token })
    }

    /// Runs of `agent` still in progress.
    fn active_runs(&self, agent: &str) -> usize {
        let index = self.index.lock();
        let Some(ids) = index.by_agent.get(agent) else { return 0 };
        ids.values()
            .rev()
            .filter_map(|id| index.runs.get(id))
            .filter(|run| matches!(run.state.lock().status, RunStatus::InProgress | RunStatus::Detached))
            .count()
    }

    /// The connection's current run, if any, with the ownership epoch this connection
    /// holds it under; an error if another connection resumed it.
    pub(crate) fn current_run(&self, caller: &Caller) -> Result<Option<(Arc<Run>, u64)>, RunsError> {
        let conn = caller.connection().id();
        let Some((id, held)) = self.with_conn(caller, |c| c.current.map(|id| (id, c.owned.get(&id).copied()))) else {
            return Ok(None);
        };
        let Some(run) = self.index.lock().runs.get(&id).cloned() else {
            // Let go (another node took it over) or forgotten (retention): never run
            // a proposal of it unjournalled.
            if self.store.shared().is_some() {
                return Err(RunsError::Store(tether_store::StoreError::Fenced { run_id: id }));
            }
            return Err(RunsError::AlreadyEnded { run_id: id.to_string(), status: "forgotten".into() });
        };
        let state = run.state.lock();
        let Some(held) = held.filter(|held| *held == state.epoch) else { return Err(RunsError::Superseded(id)) };
        if state.status == RunStatus::InProgress && state.owner != Some(conn) {
            return Err(RunsError::Superseded(id));
        }
        drop(state);
        Ok(Some((run, held)))
    }

    /// Appends one turn, durably, and returns it as recorded: with its index, and
    /// without its output if it was over `max_turn_bytes`. `held` is the ownership
    /// epoch the writing connection holds: checked under the append lock, which a
    /// resume also takes, so no turn of an owner a resume replaced lands after it.
    pub(crate) async fn append_turn(&self, run: &Run, held: u64, mut turn: Turn) -> Result<Turn, RunsError> {
        let _serial = run.append.lock().await;
        let (seq, index) = {
            let state = run.state.lock();
            if state.epoch != held {
                return Err(RunsError::Superseded(run.id));
            }
            if state.status != RunStatus::InProgress {
                return Err(RunsError::AlreadyEnded { run_id: run.id.to_string(), status: status_name(state.status) });
            }
            if state.corrupted {
                return Err(RunsError::Corrupt(run.id.to_string()));
            }
            (state.records, state.turns)
        };
        turn.index = index;
        turn.recorded_at = stamp::now();
        let mut record = RunRecord::Turn(turn);
        let mut payload = to_json(&record);
        if let RunRecord::Turn(turn) = &mut record
            && payload.len() > self.config.max_turn_bytes
        {
            shrink(turn, payload.len(), self.config.max_turn_bytes);
            payload = to_json(&record);
        }
        let appended = self.store.append(&[Record { kind: Kind::Turn, run_id: run.id, seq, payload }]).await;
        self.fenced_out(run, &appended);
        appended?;
        let mut state = run.state.lock();
        state.records += 1;
        state.turns += 1;
        if let RunRecord::Turn(turn) = &record {
            state.recorded.insert(&turn.proposal_id, &turn.action_id, seq);
        }
        run.publish(&mut state, &record, seq);
        drop(state);
        let RunRecord::Turn(turn) = record else { unreachable!("built as a turn above") };
        let checkpoint =
            RunTurnPayload { index, action_id: turn.action_id.clone(), tool: turn.tool.clone(), status: turn.status };
        self.events.emit(Published::RunTurn(checkpoint), run_scope(&run.id, &run.agent_id));
        Ok(turn)
    }

    /// A write another node fenced out: let this node's copy of the run go.
    fn fenced_out(&self, run: &Run, appended: &Result<(), tether_store::StoreError>) {
        if let Err(tether_store::StoreError::Fenced { .. }) = appended {
            self.let_go(run);
        }
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

    pub(crate) fn report_outcome(&self, agent: &str, ok: bool) {
        if let Some(listener) = self.outcomes.get() {
            listener(agent, ok);
        }
    }

    /// Ends an in-progress (or detached) run durably, if `only` still holds: the
    /// sweeps end a run only if its owner is still gone.
    pub(crate) async fn end(&self, run: &Run, termination: Termination, only: EndIf) -> Result<(), RunsError> {
        let _serial = run.append.lock().await;
        let seq = {
            let state = run.state.lock();
            if !matches!(state.status, RunStatus::InProgress | RunStatus::Detached) {
                return Err(RunsError::AlreadyEnded { run_id: run.id.to_string(), status: status_name(state.status) });
            }
            let holds = match only {
                EndIf::Always => true,
                // Checked under the append lock a resume takes too (see `append_turn`).
                EndIf::Holder(held) if held != state.epoch => return Err(RunsError::Superseded(run.id)),
                EndIf::Holder(_) => true,
                EndIf::OwnedBy(conn) => state.status == RunStatus::InProgress && state.owner == Some(conn),
                EndIf::StillDetached => state.status == RunStatus::Detached,
            };
            if !holds {
                return Ok(());
            }
            state.records
        };
        let status = termination.status();
        let ended_at = stamp::now();
        let record = RunRecord::Ended(Ended {
            run_id: run.id.to_string(),
            agent_id: run.agent_id.to_string(),
            termination,
            ended_at: ended_at.clone(),
        });
        let appended =
            self.store.append(&[Record { kind: Kind::Ended, run_id: run.id, seq, payload: to_json(&record) }]).await;
        self.fenced_out(run, &appended);
        appended?;
        let mut state = run.state.lock();
        state.records += 1;
        state.status = status;
        state.ended_at = Some(ended_at);
        state.owner = None;
        state.recorded.clear();
        run.publish(&mut state, &record, seq);
        drop(state);
        // Published in both `runtime.status` and `runtime.checkpoint` (`Kind::families`).
        self.events.emit(Published::RunEnded(RunEndedPayload { status, record }), run_scope(&run.id, &run.agent_id));
        Ok(())
    }

    /// A connection closed (its runs state dropped, `conn.rs`): after the grace (or
    /// the resume lease) end its runs still in progress as `incomplete`.
    pub(crate) fn connection_closed(self: &Arc<Self>, conn: u64, state: Conn, resumable: bool) {
        let runs: Vec<Arc<Run>> = {
            let index = self.index.lock();
            state.owned.keys().chain(&state.subscriptions).filter_map(|id| index.runs.get(id).cloned()).collect()
        };
        for run in &runs {
            let mut run = run.state.lock();
            run.subscribers.retain(|s| s.connection != conn);
            if run.owner == Some(conn) {
                run.owner_left = true;
            }
        }
        let (reattachable, orphans): (Vec<Arc<Run>>, Vec<Arc<Run>>) =
            runs.into_iter().filter(|r| state.owned.contains_key(&r.id)).partition(|r| r.state.lock().reattachable);
        self.sweep_later(orphans, conn, self.config.grace(resumable));
        let detached: Vec<Arc<Run>> = reattachable.into_iter().filter(|run| self.detach(run, conn)).collect();
        self.expire_detached_later(detached);
        let tools = state.tools.cost();
        drop(state);
        crate::tools::release_memory_after(tools);
    }

    /// The owner of a reattachable run went away: the run waits `detached`.
    fn detach(&self, run: &Run, conn: u64) -> bool {
        let mut state = run.state.lock();
        if state.status != RunStatus::InProgress || state.owner != Some(conn) {
            return false; // ended meanwhile, or resumed elsewhere
        }
        state.status = RunStatus::Detached;
        state.owner = None;
        drop(state);
        let grace = self.config.reattach_grace_ms;
        self.events
            .emit(Published::RunDetached(RunDetachedPayload { grace_ms: grace }), run_scope(&run.id, &run.agent_id));
        true
    }

    /// After `runs.reattach_grace_ms`, ends as `incomplete` each run still detached.
    pub(crate) fn expire_detached_later(self: &Arc<Self>, detached: Vec<Arc<Run>>) {
        if detached.is_empty() {
            return;
        }
        let this = self.clone();
        let grace = std::time::Duration::from_millis(self.config.reattach_grace_ms);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            for run in detached {
                match this.end(&run, Termination::Incomplete, EndIf::StillDetached).await {
                    Ok(()) | Err(RunsError::AlreadyEnded { .. }) => {}
                    Err(error) => tracing::warn!(%error, run = %run.id, "could not end a detached run"),
                }
            }
        });
    }

    /// Rebuilds which actions of a detached run are journalled (after a restart).
    pub(crate) async fn load_recorded(&self, run: &Run) -> Result<(), RunsError> {
        let records = run.state.lock().records as usize;
        let stored = self.store.read(run.id, 0..records).await.map_err(|e| corrupt_or(e, run.id))?;
        let mut state = run.state.lock();
        for (seq, record) in stored.iter().enumerate() {
            if let Some(RunRecord::Turn(turn)) = parse_record::<RunRecord>(&record.payload, run.id) {
                state.recorded.insert(&turn.proposal_id, &turn.action_id, seq as u32);
            }
        }
        Ok(())
    }

    /// After `grace`, ends as `incomplete` each of these runs still owned by `conn`.
    fn sweep_later(self: &Arc<Self>, orphans: Vec<Arc<Run>>, conn: u64, grace: std::time::Duration) {
        if orphans.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut agents = BTreeSet::new();
            for run in orphans {
                match this.end(&run, Termination::Incomplete, EndIf::OwnedBy(conn)).await {
                    Ok(()) => drop(agents.insert(run.agent_id.to_string())),
                    Err(RunsError::AlreadyEnded { .. }) => {}
                    Err(error) => tracing::warn!(%error, run = %run.id, "could not end an orphaned run"),
                }
            }
            // Swept runs count against retention like any other ended run.
            if !agents.is_empty() {
                this.retain(Some(agents.into_iter().collect()), time::OffsetDateTime::now_utc()).await;
            }
        });
    }
}

/// When a sweep may end a run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EndIf {
    Always,
    /// Asked by a connection that started or resumed the run under this ownership
    /// epoch: refused (`Superseded`) once a resume handed the run to another.
    Holder(u64),
    /// Still in progress and owned by this connection.
    OwnedBy(u64),
    /// Still detached (its owner did not come back).
    StillDetached,
}

/// A turn over the size limit keeps its facts but loses its output (and, if
/// still too large, its parameters), and its action fails saying why.
fn shrink(turn: &mut Turn, size: usize, limit: usize) {
    turn.output = None;
    turn.status = ActionStatus::Failed;
    turn.error = Some(format!("turn record of {size} bytes exceeds runs.max_turn_bytes = {limit}; output dropped"));
    if serde_json::to_vec(turn).map_or(0, |v| v.len()) > limit {
        turn.parameters = json!({ "elided": true, "bytes": size });
        turn.prompt = None;
    }
}

pub(crate) fn run_scope(run: &Ulid, agent: &AgentId) -> Scope {
    Scope {
        session_id: agent.session_id().map(str::to_owned),
        run_id: Some(run.to_string()),
        agent_id: Some(agent.to_string()),
    }
}

pub(crate) fn status_name(status: RunStatus) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn key_taken(key: &str) -> RunsError {
    let key = tether_core::excerpt(key, 64);
    RunsError::Ownership { run_id: None, reason: format!("idempotency key {key:?} belongs to another connection") }
}
