//! One run: its fixed facts, its changing state, and who watches it.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tether_core::{AgentId, Principal};
use tether_proto::runs::{RunRecord, RunStatus, RunSummary, TraceEvent};
use tokio::sync::mpsc;
use ulid::Ulid;

pub(crate) struct Run {
    pub(crate) id: Ulid,
    /// Its place in listings (`runs.list` cursors): runs are numbered as they are
    /// indexed, so a page boundary stays put however many runs start meanwhile.
    pub(crate) key: u64,
    pub(crate) agent_id: AgentId,
    pub(crate) intent: String,
    pub(crate) started_at: String,
    /// The trace its spans go to, whichever process writes them.
    pub(crate) trace: tether_telemetry::RunTrace,
    /// Serialises appends to this run and is held across the journal write until the
    /// run's state counts the record (`write.rs` `append_turn`, `end`), so a snapshot
    /// taken under it sees every record exactly once (no gap, no duplicate), and a
    /// cancelled writer never lets the next one take its record's place.
    pub(crate) append: Arc<tokio::sync::Mutex<()>>,
    pub(crate) state: Mutex<RunState>,
    /// Its events' scope (and its id as text), made when first asked for: formatting
    /// the ids was three `to_string`s per turn; a run rebuilt at boot and never written
    /// pays nothing.
    scope: std::sync::OnceLock<tether_events::Scope>,
}

pub(crate) struct RunState {
    pub(crate) status: RunStatus,
    pub(crate) ended_at: Option<String>,
    /// Records of every kind: the next record's position.
    pub(crate) records: u32,
    pub(crate) turns: u32,
    /// Its records' payloads together, in bytes, against `runs.max_run_bytes`.
    pub(crate) bytes: u64,
    /// Turns the proposals in flight may still journal (`Reserved`).
    pub(crate) reserved: u32,
    /// The connection that owns the run while it is in progress.
    pub(crate) owner: Option<u64>,
    /// That connection closed (its sweep waits out the grace).
    pub(crate) owner_left: bool,
    /// The ownership generation: bumped (under the append lock) each time `runs.resume`
    /// hands the run to a connection. A writer presents the epoch it was given and
    /// every append checks it under the append lock, so an old owner's proposal still
    /// in flight, or its `runs.complete`, cannot write after the hand-over.
    pub(crate) epoch: u64,
    pub(crate) corrupted: bool,
    pub(crate) subscribers: Vec<Subscriber>,
    /// Started under `runs.reattach.v1`: detaches instead of ending when its owner goes.
    pub(crate) reattachable: bool,
    /// SHA-256 of the resume token, for a reattachable run.
    pub(crate) token: Option<[u8; 32]>,
    /// Which actions of which proposals are journalled, and at which record: a proposal
    /// submitted again gets these back instead of running them again. Kept while the
    /// run is in progress (or detached) only.
    pub(crate) recorded: crate::reattach::Recorded,
    /// Where the run came from (`runs.fork`, `runs.replay`), as its `started` record says.
    pub(crate) forked_from: Option<tether_proto::runs::ForkedFrom>,
    pub(crate) replay_of: Option<String>,
    /// The limits in force (raised by approvals since the start), if any.
    pub(crate) budget: Option<tether_proto::runs::Budget>,
    /// Usage summed over the run's own turns; `None` until read from the store for a
    /// run rebuilt at open (`Runs::usage_of` loads it).
    pub(crate) usage: Option<tether_proto::runs::UsageTotals>,
    pub(crate) breach: Option<tether_proto::runs::BudgetBreach>,
}

pub(crate) struct Subscriber {
    pub(crate) connection: u64,
    pub(crate) events: mpsc::Sender<TraceEvent>,
    /// Set when the subscriber fell behind and was dropped.
    pub(crate) lagged: Arc<AtomicBool>,
}

impl Run {
    pub(crate) fn new(
        id: Ulid,
        key: u64,
        agent_id: AgentId,
        intent: String,
        started_at: String,
        trace: tether_telemetry::RunTrace,
        state: RunState,
    ) -> Run {
        Run {
            id,
            key,
            agent_id,
            intent,
            started_at,
            trace,
            append: Arc::new(tokio::sync::Mutex::new(())),
            state: Mutex::new(state),
            scope: std::sync::OnceLock::new(),
        }
    }

    /// The scope of this run's events.
    pub(crate) fn scope(&self) -> tether_events::Scope {
        self.made_scope().clone()
    }

    /// Its id as text (each `tools.execute`'s `call_id` starts with it).
    pub(crate) fn id_text(&self) -> &str {
        self.made_scope().run_id.as_deref().expect("a run's scope names the run")
    }

    fn made_scope(&self) -> &tether_events::Scope {
        self.scope.get_or_init(|| crate::runs::run_scope(&self.id, &self.agent_id))
    }

    /// Agents read only their own runs; the operator reads every run.
    pub(crate) fn readable_by(&self, principal: &Principal) -> bool {
        match principal {
            Principal::Operator => true,
            Principal::Agent(agent) => *agent == self.agent_id,
        }
    }

    pub(crate) fn summary(&self) -> RunSummary {
        let state = self.state.lock();
        RunSummary {
            run_id: self.id.to_string(),
            agent_id: self.agent_id.to_string(),
            intent: self.intent.clone(),
            started_at: self.started_at.clone(),
            ended_at: state.ended_at.clone(),
            status: state.status,
            turn_count: state.turns,
            session_id: self.agent_id.session_id().map(str::to_owned),
            trace_corruption: state.corrupted,
        }
    }

    /// Hands a new record to every subscriber; one that cannot keep up is dropped.
    pub(crate) fn publish(&self, state: &mut RunState, record: &RunRecord, cursor: u32) {
        let status = state.status;
        state.subscribers.retain(|subscriber| {
            let event = TraceEvent {
                run_id: self.id.to_string(),
                agent_id: self.agent_id.to_string(),
                record: record.clone(),
                cursor: cursor as u64,
                status,
            };
            match subscriber.events.try_send(event) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    subscriber.lagged.store(true, Ordering::Release);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
    }
}

impl RunState {
    pub(crate) fn in_progress(owner: Option<u64>) -> RunState {
        RunState {
            status: RunStatus::InProgress,
            ended_at: None,
            records: 0,
            turns: 0,
            bytes: 0,
            reserved: 0,
            owner,
            owner_left: false,
            epoch: 0,
            corrupted: false,
            subscribers: Vec::new(),
            reattachable: false,
            token: None,
            recorded: Default::default(),
            forked_from: None,
            replay_of: None,
            budget: None,
            usage: Some(Default::default()),
            breach: None,
        }
    }
}

/// Turns a proposal (or a replay) may journal, counted against `runs.max_turns_per_run`
/// before its first action runs, so a run at its cap refuses the proposal rather than
/// run a tool whose turn it cannot keep. Each append spends one; the rest are given
/// back when it drops.
pub(crate) struct Reserved<'a> {
    run: &'a Run,
    pub(crate) left: u32,
}

impl Run {
    /// Also refuses new turns once the run's records reach `runs.max_run_bytes`.
    pub(crate) fn reserve(
        &self,
        turns: usize,
        config: &crate::RunsConfig,
    ) -> Result<Reserved<'_>, crate::error::RunsError> {
        let mut state = self.state.lock();
        let (journalled, reserved) = (state.turns as usize, state.reserved as usize);
        let cap = config.max_turns_per_run;
        if cap != 0 && journalled + reserved + turns > cap {
            return Err(turn_cap(self, journalled + reserved, cap));
        }
        let max_bytes = config.max_run_bytes as u64;
        if turns > 0 && max_bytes != 0 && state.bytes >= max_bytes {
            let what = format!(
                "run {} has journalled {} bytes, its whole allowance: end it and start another",
                self.id, state.bytes
            );
            return Err(tether_core::RpcError::limit(what, "runs.max_run_bytes", max_bytes).into());
        }
        let turns = u32::try_from(turns).expect("a proposal's actions are bounded by its message");
        state.reserved += turns;
        Ok(Reserved { run: self, left: turns })
    }
}

/// The refusal of a turn past `runs.max_turns_per_run`.
pub(crate) fn turn_cap(run: &Run, taken: usize, cap: usize) -> crate::error::RunsError {
    let what =
        format!("run {} has {taken} of its {cap} turns journalled or in flight: end it and start another", run.id);
    tether_core::RpcError::limit(what, "runs.max_turns_per_run", cap).into()
}

/// A new run of `turns` copied or replayed turns fits under `runs.max_turns_per_run`.
pub(crate) fn fits(turns: usize, cap: usize, method: &str) -> Result<(), crate::error::RunsError> {
    if cap != 0 && turns > cap {
        let what = format!("{method}: {turns} turns are more than one run may journal");
        return Err(tether_core::RpcError::limit(what, "runs.max_turns_per_run", cap).into());
    }
    Ok(())
}

impl Reserved<'_> {
    /// One of the reserved turns, for the append that journals it; `None` if none is left.
    pub(crate) fn take_one(&mut self, run: &Arc<Run>) -> Option<OneTurn> {
        (self.left > 0).then(|| {
            self.left -= 1;
            OneTurn(Some(run.clone()))
        })
    }
}

/// One reserved turn, spent when its record is journalled (on the store's thread) or
/// given back if it never is.
pub(crate) struct OneTurn(Option<Arc<Run>>);

impl OneTurn {
    /// Its turn was journalled (called under the run's state lock).
    pub(crate) fn spend(mut self, state: &mut RunState) {
        self.0 = None;
        state.reserved = state.reserved.saturating_sub(1);
    }
}

impl Drop for OneTurn {
    fn drop(&mut self) {
        if let Some(run) = self.0.take() {
            let mut state = run.state.lock();
            state.reserved = state.reserved.saturating_sub(1);
        }
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if self.left > 0 {
            let mut state = self.run.state.lock();
            state.reserved = state.reserved.saturating_sub(self.left);
        }
    }
}
