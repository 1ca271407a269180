//! Durable writes to a run, each under the run's append lock: `runs.start`, the turns
//! of a proposal, and the end (on request, by a sweep, or at boot).

use std::sync::Arc;

use serde_json::json;
use tether_core::{Caller, stamp};
use tether_events::EventBus;
use tether_proto::events::{Published, RunEndedPayload, RunStartedPayload, RunTurnPayload};
use tether_proto::proposal::ActionStatus;
use tether_proto::runs::{Ended, RunRecord, RunStatus, StartParams, StartResult, Started, Termination, Turn};
use tether_store::{Kind, Record};

use crate::agent::{self, resolve_agent};
use crate::error::RunsError;
use crate::proposal::EarlyReply;
use crate::reattach;
use crate::records::to_json;
use crate::run::{OneTurn, Reserved, Run, RunState};
use crate::runs::{Runs, status_name};

impl Runs {
    pub async fn start(&self, caller: &Caller, params: StartParams) -> Result<StartResult, RunsError> {
        agent::check_start(&params, &self.config)?;
        let (caller_trace, tracestate) = agent::trace_of(&params)?;
        let agent_id = resolve_agent(caller.principal(), params.agent_id, params.agent_name)?;
        let budget = self.budget_for(&agent_id, params.budget)?;
        let begin = Begin {
            agent_id,
            intent: params.intent,
            idempotency_key: params.idempotency_key,
            forked_from: None,
            replay_of: None,
            budget,
            inherited: Vec::new(),
            current: true,
            traceparent: caller_trace,
            tracestate,
        };
        Ok(self.begin(caller, begin).await?.0)
    }

    /// A new run, durably: its `started` record and any inherited turns in one append.
    /// With `current`, it becomes the connection's current run before the reply.
    /// The run is `None` only for a key this connection used before whose run is no
    /// longer indexed (forgotten by retention): answered as it was, as `runs.start` always has.
    pub(crate) async fn begin(
        &self,
        caller: &Caller,
        begin: Begin,
    ) -> Result<(StartResult, Option<Arc<Run>>), RunsError> {
        let Begin {
            agent_id,
            intent,
            idempotency_key,
            forked_from,
            replay_of,
            budget,
            inherited,
            current,
            traceparent: caller_trace,
            tracestate,
        } = begin;
        let agent_key = agent_id.to_string();
        let conn = caller.connection().id();
        let client_id = format!("conn-{conn}");
        // Held until the run is indexed (or its start failed): a second start under the
        // key, a retry after a cancelled one say, waits for it and then finds its run.
        let claimed = match &idempotency_key {
            None => None,
            Some(key) => match self.claim_key(conn, &agent_key, key).await? {
                Claim::Held(held) => Some(held),
                Claim::Known(run_id) => {
                    if current {
                        self.with_conn(caller, |c| c.current = Some(run_id));
                    }
                    let run = self.index.lock().runs.get(&run_id).cloned();
                    let result =
                        StartResult { run_id: run_id.to_string(), agent_id: agent_key, client_id, resume_token: None };
                    return Ok((result, run));
                }
            },
        };
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
            intent: intent.clone(),
            started_at: stamp::now(),
            session_id: agent_id.session_id().map(str::to_owned),
            idempotency_key: idempotency_key.clone(),
            reattachable,
            resume_token_sha256: token_hash.clone(),
            traceparent: caller_trace.map(|t| t.to_string()),
            tracestate: tracestate.clone(),
            forked_from: forked_from.clone(),
            replay_of: replay_of.clone(),
            budget: budget.clone(),
        };
        let payload = to_json(&RunRecord::Started(started.clone()));
        let mut records = vec![Record { kind: Kind::Started, run_id: id, seq: 0, payload }];
        // Inherited turns are not this run's: a proposal of the same id submitted to
        // the fork runs, it is not answered from them (so they stay out of `recorded`).
        for (n, turn) in inherited.iter().enumerate() {
            let seq = n as u32 + 1;
            records.push(Record {
                kind: Kind::Turn,
                run_id: id,
                seq,
                payload: to_json(&RunRecord::Turn(turn.clone())),
            });
        }

        let bytes: u64 = records.iter().map(|r| r.payload.len() as u64).sum();
        let max_bytes = self.config.max_run_bytes as u64;
        if max_bytes != 0 && bytes > max_bytes {
            let what =
                format!("a new run of {bytes} bytes (its start and inherited turns) is more than one run may journal");
            return Err(tether_core::RpcError::limit(what, "runs.max_run_bytes", max_bytes).into());
        }
        let mut state = RunState::in_progress(Some(conn));
        state.records = records.len() as u32;
        state.bytes = bytes;
        state.turns = inherited.len() as u32;
        state.reattachable = reattachable;
        state.token = token_hash.as_deref().and_then(reattach::parse_hash);
        state.forked_from = forked_from;
        state.replay_of = replay_of;
        state.budget = budget;
        let trace = tether_telemetry::RunTrace::new(id, caller_trace, tracestate);
        let key = idempotency_key.clone();
        // As a turn's (`append_turn`): the run is indexed, and the connection's, the
        // moment it is durable, even if this call was cancelled meanwhile. Had the
        // connection closed too, the follow-up holds its runs state last and sweeps it.
        let indexed = Arc::new(parking_lot::Mutex::new(None));
        let then: tether_store::Then = {
            let (me, indexed, conn_runs) = (self.me.clone(), indexed.clone(), self.conn(caller));
            let agent_id = agent_id.clone();
            Box::new(move || {
                let Some(this) = me.upgrade() else { return };
                let run = {
                    let mut index = this.index.lock();
                    let key = index.next_key();
                    let run = Arc::new(Run::new(id, key, agent_id, intent, started.started_at, trace, state));
                    index.insert(run.clone());
                    if let Some(key) = idempotency_key {
                        index.idempotency.insert((agent_key, key), (conn, id));
                    }
                    run
                };
                this.observer().run_started();
                let payload = RunStartedPayload { intent: started.intent, status: RunStatus::InProgress };
                this.events.emit(Published::RunStarted(payload), run.scope());
                let mut state = conn_runs.state.lock();
                if current {
                    state.current = Some(id);
                }
                state.owned.insert(id, 0);
                drop(state);
                drop(conn_runs);
                // Last: a retry under the key finds the run complete, the connection's too.
                drop(claimed);
                *indexed.lock() = Some(run);
            })
        };
        match self.store.append_then(&records, Some(then)).await {
            // Two nodes started runs under one key at once: the database kept the other.
            Err(tether_store::StoreError::Duplicate { .. }) => {
                return Err(key_taken(key.as_deref().unwrap_or_default()));
            }
            appended => appended?,
        }
        let run = indexed.lock().take().expect("an append's follow-up runs before it resolves");
        Ok((StartResult { run_id: id.to_string(), agent_id: agent_id.to_string(), client_id, resume_token }, Some(run)))
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
            return Err(self.no_longer_here(id));
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
    /// The turn comes in boxed and goes to the append's follow-up.
    /// `reserved` holds the turn's place under `runs.max_turns_per_run`.
    ///
    /// What follows the sync (the run's counts and resubmission index, its
    /// subscribers, the `run.turn` event and, given `reply`, the proposal's outcome for
    /// the circuit breakers and its answer) runs the moment the turn is durable, on the
    /// store's thread
    /// (`RunStore::append_then`): the client has its answer without a hop back to this
    /// task, and nothing it asks next (the run, its trace, the proposal again, the next
    /// turn's budget) can find the run without this turn.
    pub(crate) async fn append_turn(
        &self,
        run: &Arc<Run>,
        held: u64,
        turn: Box<Turn>,
        reserved: &mut Reserved<'_>,
        reply: Option<EarlyReply<'_>>,
    ) -> Result<Turn, RunsError> {
        // Held until the turn is in the run's state (or failed), not until this task
        // resumes: a proposal cancelled during the sync leaves the next append waiting
        // for this record's place to be counted, never taking it.
        let serial = run.append.clone().lock_owned().await;
        let (seq, index, bytes) = {
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
            // A turn its proposal did not count (a fingerprint mistaken for a journalled one).
            let taken = (state.turns + state.reserved) as usize;
            let cap = self.config.max_turns_per_run;
            if reserved.left == 0 && cap != 0 && taken >= cap {
                return Err(crate::run::turn_cap(run, taken, cap));
            }
            (state.records, state.turns, state.bytes)
        };
        let (payload, turn) = turn_record(turn, index, self.bounds(run, bytes));
        let size = payload.len() as u64;
        // A proposal's outcome goes to the circuit breakers before its answer does.
        let report = reply.is_some().then(|| self.me.clone());
        let answer = reply.and_then(|reply| reply.prepare(&turn));
        // Once the answer is out, nothing waits for this task: its wake-up is held back.
        let later = answer.as_ref().map(tether_core::Prepared::later);
        let finished = Arc::new(parking_lot::Mutex::new(None));
        let then: tether_store::Then = {
            let (run, events, finished, unit) =
                (run.clone(), self.events.clone(), finished.clone(), reserved.take_one(run));
            Box::new(move || {
                let turn = finish_turn(&run, &events, turn, (seq, index, size), unit);
                drop(serial);
                if let Some(runs) = report.and_then(|me| me.upgrade())
                    && matches!(turn.status, ActionStatus::Succeeded | ActionStatus::Failed)
                {
                    runs.report_outcome(run.agent_id.as_str(), turn.status == ActionStatus::Succeeded);
                }
                *finished.lock() = Some(turn);
                if let Some(answer) = answer {
                    answer.send();
                }
            })
        };
        let record = Record { kind: Kind::Turn, run_id: run.id, seq, payload };
        let append = self.store.append_then(std::slice::from_ref(&record), Some(then));
        let appended = match later {
            Some(later) => later.run(append).await,
            None => append.await,
        };
        self.fenced_out(run, &appended);
        appended?;
        let turn = finished.lock().take().expect("an append's follow-up runs before it resolves");
        Ok(turn)
    }

    /// A write another node fenced out: let this node's copy of the run go.
    fn fenced_out(&self, run: &Run, appended: &Result<(), tether_store::StoreError>) {
        if let Err(tether_store::StoreError::Fenced { .. }) = appended {
            self.let_go(run);
        }
    }

    /// Ends an in-progress (or detached) run durably, if `only` still holds: the
    /// sweeps end a run only if its owner is still gone.
    pub(crate) async fn end(&self, run: &Arc<Run>, termination: Termination, only: EndIf) -> Result<(), RunsError> {
        let serial = run.append.clone().lock_owned().await;
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
        let breach = match &termination {
            Termination::Outcome { budget_exceeded, .. } => budget_exceeded.clone(),
            _ => None,
        };
        let ended_at = stamp::now();
        let record = RunRecord::Ended(Ended {
            run_id: run.id.to_string(),
            agent_id: run.agent_id.to_string(),
            termination,
            ended_at: ended_at.clone(),
        });
        let payload = to_json(&record);
        let size = payload.len() as u64;
        // As a turn's (`append_turn`): the run is ended in memory the moment its end is
        // durable, whether or not this task is still there to see it.
        let then: tether_store::Then = {
            let (run, me) = (run.clone(), self.me.clone());
            Box::new(move || {
                let mut state = run.state.lock();
                state.records += 1;
                state.bytes += size;
                state.status = status;
                state.ended_at = Some(ended_at);
                state.owner = None;
                state.breach = breach;
                state.recorded.clear();
                run.publish(&mut state, &record, seq);
                drop(state);
                drop(serial);
                if let Some(runs) = me.upgrade() {
                    runs.ended(&run, status);
                    // Published in both `runtime.status` and `runtime.checkpoint` (`Kind::families`).
                    runs.events.emit(Published::RunEnded(RunEndedPayload { status, record }), run.scope());
                }
            })
        };
        let record = Record { kind: Kind::Ended, run_id: run.id, seq, payload };
        let appended = self.store.append_then(std::slice::from_ref(&record), Some(then)).await;
        self.fenced_out(run, &appended);
        Ok(appended?)
    }
}

impl Runs {
    /// What follows a run's end durably, for operators: its `invoke_agent` span (from
    /// its recorded start, so one written after a restart spans the whole run) and
    /// the count of runs ended.
    pub(crate) fn ended(&self, run: &Run, status: RunStatus) {
        let name = status_name(status);
        self.observer().run_ended(&name);
        if tether_telemetry::enabled() {
            let started_at = tether_core::stamp::parse(&run.started_at)
                .map_or_else(std::time::SystemTime::now, std::time::SystemTime::from);
            let turns = run.state.lock().turns;
            let end = tether_telemetry::RunEnd {
                agent: run.agent_id.as_str(),
                status: &name,
                failed: status != RunStatus::Completed,
                started_at,
                turns,
            };
            run.trace.end(run.id, end);
        }
    }
}

/// What a new run starts with (`runs.start`, `runs.fork`, `runs.replay`).
pub(crate) struct Begin {
    pub(crate) agent_id: tether_core::AgentId,
    pub(crate) intent: String,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) forked_from: Option<tether_proto::runs::ForkedFrom>,
    pub(crate) replay_of: Option<String>,
    pub(crate) budget: Option<tether_proto::runs::Budget>,
    /// A fork's inherited turns, journalled right after `started`.
    pub(crate) inherited: Vec<Turn>,
    /// Becomes the connection's current run (proposals append to it).
    pub(crate) current: bool,
    /// The caller's trace the run joins (W3C), if it sent one.
    pub(crate) traceparent: Option<tether_telemetry::TraceParent>,
    pub(crate) tracestate: Option<String>,
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

/// How large a turn's record may be: `runs.max_turn_bytes`, or less when the run has
/// less of `runs.max_run_bytes` left (then `run` says which run, how much it journalled
/// and its allowance, for the shrunk turn's error).
struct TurnBound {
    max: usize,
    run: Option<(ulid::Ulid, u64, u64)>,
}

impl TurnBound {
    fn why(&self) -> String {
        match self.run {
            Some((id, journalled, cap)) => {
                format!("would take run {id} past runs.max_run_bytes = {cap} ({journalled} journalled)")
            }
            None => format!("exceeds runs.max_turn_bytes = {}", self.max),
        }
    }
}

impl Runs {
    fn bounds(&self, run: &Run, journalled: u64) -> TurnBound {
        let per_turn = self.config.max_turn_bytes;
        let per_run = self.config.max_run_bytes as u64;
        let left = per_run.saturating_sub(journalled);
        match per_run != 0 && left < per_turn as u64 {
            true => TurnBound { max: left as usize, run: Some((run.id, journalled, per_run)) },
            false => TurnBound { max: per_turn, run: None },
        }
    }
}

/// The turn stamped with its index and time, and its record's payload (shrunk under
/// `bound` if it is over); the turn comes back boxed.
fn turn_record(mut turn: Box<Turn>, index: u32, bound: TurnBound) -> (Vec<u8>, Box<Turn>) {
    turn.index = index;
    turn.recorded_at = stamp::now();
    let mut record = RunRecord::Turn(*turn);
    let mut payload = to_json(&record);
    if let RunRecord::Turn(turn) = &mut record
        && payload.len() > bound.max
    {
        shrink(turn, payload.len(), &bound);
        payload = to_json(&record);
    }
    let RunRecord::Turn(turn) = record else { unreachable!("built as a turn above") };
    (payload, Box::new(turn))
}

/// A journalled turn into the run's state, its subscribers and the event bus (the
/// follow-up of its append, on the store's thread).
fn finish_turn(run: &Run, events: &EventBus, turn: Box<Turn>, at: (u32, u32, u64), unit: Option<OneTurn>) -> Turn {
    let (seq, index, size) = at;
    let record = RunRecord::Turn(*turn);
    let mut state = run.state.lock();
    state.records += 1;
    state.bytes += size;
    state.turns += 1;
    if let Some(unit) = unit {
        unit.spend(&mut state);
    }
    if let RunRecord::Turn(turn) = &record {
        state.recorded.insert(&turn.proposal_id, &turn.action_id, seq);
        if let Some(usage) = state.usage.as_mut() {
            crate::budget::add_turn(usage, turn);
        }
        if let Some(budget) = &turn.budget {
            state.budget = Some(budget.clone());
        }
    }
    run.publish(&mut state, &record, seq);
    drop(state);
    let RunRecord::Turn(turn) = record else { unreachable!("built as a turn above") };
    let checkpoint =
        RunTurnPayload { index, action_id: turn.action_id.clone(), tool: turn.tool.clone(), status: turn.status };
    events.emit(Published::RunTurn(checkpoint), run.scope());
    turn
}

/// A turn over the size limit keeps its facts but loses its output (and, if
/// still too large, its parameters), and its action fails saying why.
fn shrink(turn: &mut Turn, size: usize, bound: &TurnBound) {
    turn.output = None;
    turn.status = ActionStatus::Failed;
    turn.error = Some(format!("turn record of {size} bytes {}; output dropped", bound.why()));
    if serde_json::to_vec(turn).map_or(0, |v| v.len()) > bound.max {
        turn.parameters = json!({ "elided": true, "bytes": size });
        turn.prompt = None;
    }
}

/// What `claim_key` found.
enum Claim {
    /// A run this connection started under the key before.
    Known(ulid::Ulid),
    /// Nobody has used the key: it is this start's until the guard drops.
    Held(KeyHeld),
}

/// An idempotency key a start is journalling a run under (`Index::starting`).
pub(crate) struct KeyHeld {
    runs: std::sync::Weak<Runs>,
    key: (String, String),
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for KeyHeld {
    fn drop(&mut self) {
        // Out of the table before the waiters wake (the guard drops after this body).
        if let Some(runs) = self.runs.upgrade() {
            runs.index.lock().starting.remove(&self.key);
        }
    }
}

impl Runs {
    /// The run this connection started under `key` before, or the key held for a new
    /// one; waits for a start still journalling a run under it, and refuses a key
    /// another connection (or, on a shared store, another node) used.
    async fn claim_key(&self, conn: u64, agent: &str, key: &str) -> Result<Claim, RunsError> {
        let wanted = (agent.to_owned(), key.to_owned());
        let held = loop {
            let starting = {
                let mut index = self.index.lock();
                match index.idempotency.get(&wanted).copied() {
                    Some((owner, run_id)) if owner == conn => return Ok(Claim::Known(run_id)),
                    Some(_) => return Err(key_taken(key)),
                    None => {}
                }
                match index.starting.get(&wanted) {
                    Some(starting) => starting.clone(),
                    None => {
                        let lock = Arc::new(tokio::sync::Mutex::new(()));
                        let held = lock.clone().try_lock_owned().expect("a new lock is free");
                        index.starting.insert(wanted.clone(), lock);
                        break KeyHeld { runs: self.me.clone(), key: wanted, _held: held };
                    }
                }
            };
            drop(starting.lock().await);
        };
        if self.key_used_elsewhere(agent, key).await? {
            return Err(key_taken(key));
        }
        Ok(Claim::Held(held))
    }
}

fn key_taken(key: &str) -> RunsError {
    let key = tether_core::excerpt(key, 64);
    RunsError::Ownership { run_id: None, reason: format!("idempotency key {key:?} belongs to another connection") }
}
