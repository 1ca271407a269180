//! Running a proposal: each action in order, through `tools.execute` on the
//! submitting connection, each ending as one durable turn of the current run.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tether_core::{CallError, Caller, Early, Peer, PeerExt, Prepared};
use tether_proto::proposal::{
    Action, ActionResult, ActionResultRef, ActionStatus, FailureBehavior, ResultsRef, SubmitParams, SubmitResult,
    SubmitResultRef,
};
use tether_proto::runs::{RunRecord, Turn};
use tether_proto::tools::{CallId, Cancel, CancelParams, Execute, ExecuteParamsRef};

use tether_telemetry::ToolSpan;

use crate::error::{RunsError, invalid};
use crate::records::parse_record;
use crate::run::Run;
use crate::runs::Runs;

impl Runs {
    pub async fn submit(&self, caller: &Caller, params: SubmitParams) -> Result<SubmitResult, RunsError> {
        let run = self.current_run(caller)?;
        let proposal_id = params.proposal.id.unwrap_or_else(|| tether_core::new_id().to_string());
        let actions = params.proposal.actions;
        let action_ids: Vec<String> =
            actions.iter().enumerate().map(|(n, a)| a.id.clone().unwrap_or_else(|| default_action_id(n))).collect();
        // A few actions (most proposals have one) are compared pairwise, with no set built.
        let few = action_ids.len() <= 8;
        let mut unique = HashSet::new();
        for (n, id) in action_ids.iter().enumerate() {
            let repeated = if few { action_ids[..n].contains(id) } else { !unique.insert(id.as_str()) };
            if repeated {
                let id = tether_core::excerpt(id, 64);
                return Err(invalid("proposal.actions", format!("[{n}].id {id:?} repeats an earlier action's id")));
            }
        }
        // Submitted again (after a reconnect or a restart): what is journalled is
        // answered from the journal, and the rest runs flagged as a possible redelivery.
        let again = run.as_ref().is_some_and(|(r, _)| r.state.lock().recorded.seen(&proposal_id));
        let run_label = run.as_ref().map_or("-", |(r, _)| r.id_text());
        let call = CallRef { run: run_label, proposal: &proposal_id, redelivery: again };
        if let Some(usage) = &params.usage {
            crate::budget::check_usage(usage)?;
        }
        // Journalled once, on the proposal's first turn (a proposal submitted again
        // journalled it the first time).
        let mut usage = params.usage.filter(|_| !again);
        // Each action not journalled yet may add a turn: counted before any runs.
        let mut reserved = match &run {
            Some((run, _)) => {
                let fresh = if again {
                    let state = run.state.lock();
                    action_ids.iter().filter(|a| state.recorded.seq(&proposal_id, a).is_none()).count()
                } else {
                    action_ids.len()
                };
                Some(run.reserve(fresh, &self.config)?)
            }
            None => None,
        };
        // A limit an approval raised, journalled on the next turn; a denial, which
        // rejects every action left and ends the run `budget_exceeded`.
        let mut raised = None;
        let mut denied: Option<(tether_proto::runs::BudgetBreach, String)> = None;
        let mut results = Vec::with_capacity(actions.len());
        let mut aborted = false;
        // Answered by the last turn's append the moment it is durable (`append_turn`).
        let mut early = tether_core::Early::take();
        let last = actions.len().saturating_sub(1);
        for (n, (action, action_id)) in actions.into_iter().zip(action_ids).enumerate() {
            if let Some((run, _)) = &run
                && let Some(turn) = self.recorded_turn(run, &proposal_id, &action_id).await?
            {
                let failed = matches!(turn.status, ActionStatus::Failed | ActionStatus::Rejected);
                aborted |= failed && action.failure_behavior.unwrap_or_default() == FailureBehavior::Abort;
                results.push(result_of(turn));
                continue;
            }
            let mut span = ToolSpan::default();
            if !aborted
                && denied.is_none()
                && let Some((run, _)) = &run
            {
                match self.within_budget(run, usage.as_ref()).await {
                    Ok(budget) => raised = budget.or(raised),
                    Err(breach) => denied = Some(breach),
                }
            }
            let mut turn = if aborted {
                skipped(&proposal_id, &action_id, &action)
            } else if let Some((_, reason)) = &denied {
                reject(new_turn(&proposal_id, &action_id, &action), reason.clone(), false).0
            } else {
                if let Some((run, _)) = &run {
                    span = run.trace.tool(action.tool.as_deref().unwrap_or_default(), &action.parameters);
                }
                let (turn, stop) = self.execute(caller, &call, &action_id, &action, &span).await;
                if caller.connection().is_gone()
                    && turn.status != ActionStatus::Succeeded
                    && (self.resumable(caller) || run.as_ref().is_some_and(|(r, _)| r.state.lock().reattachable))
                {
                    // The owner dropped mid-call and means to come back (here or on
                    // another node): journal nothing, so the proposal it submits again
                    // delivers this call again (same call_id) and it completes once.
                    return Err(RunsError::Ownership {
                        run_id: run.as_ref().map(|(r, _)| r.id),
                        reason: "the connection closed during the proposal".into(),
                    });
                }
                aborted = stop;
                turn
            };
            let mut reported = false;
            if let (Some((run, held)), Some(reserved)) = (&run, &mut reserved) {
                turn.usage = usage.take();
                turn.budget = raised.take();
                // Refused (-32010, fenced) if a resume handed the run over meanwhile.
                let journal = span.journal_append();
                // Not when a denied budget is still to end the run: that may fail the proposal.
                let reply = (n == last && denied.is_none()).then(|| early.take()).flatten().map(|early| EarlyReply {
                    early,
                    proposal_id: &proposal_id,
                    before: &results,
                });
                reported = reply.is_some();
                turn = self.append_turn(run, *held, Box::new(turn), reserved, reply).await?;
                drop(journal);
            }
            self.traced_call(span, call.run, &turn);
            // An answered turn told the circuit breakers in its append's follow-up.
            if !reported && matches!(turn.status, ActionStatus::Succeeded | ActionStatus::Failed) {
                let agent = run.as_ref().map(|(r, _)| &r.agent_id).or_else(|| caller.principal().agent_id());
                if let Some(agent) = agent {
                    self.report_outcome(agent.as_str(), turn.status == ActionStatus::Succeeded);
                }
            }
            results.push(result_of(turn));
        }
        if let (Some((breach, reason)), Some((run, held))) = (denied, &run) {
            // Boxed: a rare path, whose future would otherwise size every proposal's.
            Box::pin(self.end_over_budget(caller, run, *held, breach, reason)).await?;
        }
        Ok(SubmitResult { proposal_id, results })
    }

    /// A denied budget approval: the run ends with a CAR-readable outcome (`failure`)
    /// marked `budget_exceeded`, which is its status.
    async fn end_over_budget(
        &self,
        caller: &Caller,
        run: &Arc<Run>,
        held: u64,
        breach: tether_proto::runs::BudgetBreach,
        reason: String,
    ) -> Result<(), RunsError> {
        use tether_proto::runs::{Outcome, OutcomeStatus, Termination};
        let outcome = Outcome {
            status: OutcomeStatus::Failure,
            summary: reason,
            evidence: Vec::new(),
            metrics: Default::default(),
            timestamp: Some(tether_core::stamp::now()),
        };
        let termination =
            Termination::Outcome { status: OutcomeStatus::Failure, outcome, budget_exceeded: Some(breach) };
        self.end(run, termination, crate::write::EndIf::Holder(held)).await?;
        self.release(caller, run.id);
        Ok(())
    }

    /// The turn already journalled for this action of this proposal, if any.
    async fn recorded_turn(&self, run: &Run, proposal_id: &str, action_id: &str) -> Result<Option<Turn>, RunsError> {
        let Some(seq) = run.state.lock().recorded.seq(proposal_id, action_id) else { return Ok(None) };
        let seq = seq as usize;
        let stored = self.store.read(run.id, seq..seq + 1).await.map_err(|e| crate::records::corrupt_or(e, run.id))?;
        match stored.first().and_then(|r| parse_record::<RunRecord>(&r.payload, run.id)) {
            // The index holds fingerprints: the turn found must carry these very ids.
            Some(RunRecord::Turn(turn)) if turn.proposal_id == proposal_id && turn.action_id == action_id => {
                Ok(Some(turn))
            }
            Some(RunRecord::Turn(_)) => Ok(None),
            _ => Err(RunsError::Corrupt(run.id.to_string())),
        }
    }

    /// Runs one action (with its retries). Returns its turn and whether the rest must be skipped.
    pub(crate) async fn execute(
        &self,
        caller: &Caller,
        call: &CallRef<'_>,
        action_id: &str,
        action: &Action,
        span: &ToolSpan,
    ) -> (Turn, bool) {
        let proposal_id = call.proposal;
        let mut turn = new_turn(proposal_id, action_id, action);
        let behavior = action.failure_behavior.unwrap_or_default();
        let abort_on_failure = behavior == FailureBehavior::Abort;
        if action.kind != "tool_call" {
            return reject(
                turn,
                format!("unsupported action type {:?}: only \"tool_call\"", action.kind),
                abort_on_failure,
            );
        }
        let Some(name) = &action.tool else {
            return reject(turn, "a tool_call needs \"tool\"".into(), abort_on_failure);
        };
        let Some(tool) = self.with_conn(caller, |c| c.tools.get(name)) else {
            return reject(turn, format!("tool {name:?} is not registered on this connection"), abort_on_failure);
        };
        if let Err(problem) = tool.check(&action.parameters) {
            return reject(turn, problem, abort_on_failure);
        }

        let attempts = match behavior {
            FailureBehavior::Retry => 1 + action.max_retries.unwrap_or(self.config.default_max_retries),
            _ => 1,
        };
        let timeout_ms = action.timeout_ms.unwrap_or(self.config.default_wait_ms);
        let wait = match action.timeout_ms {
            Some(ms) => Duration::from_millis(ms + self.config.wait_slack_ms),
            None => Duration::from_millis(self.config.default_wait_ms),
        };
        let started = Instant::now();
        turn.redelivered = call.redelivery;
        for attempt in 1..=attempts {
            turn.attempts = attempt;
            let request_id = OnceLock::new();
            let mut guard = CancelGuard {
                client: caller.client(),
                action_id,
                request_id: &request_id,
                armed: true,
                reason: "proposal cancelled",
            };
            // Borrowed: the action's parameters and ids are written into the request, not copied.
            let outcome = caller
                .client()
                .request_with::<Execute, _>(
                    |id| {
                        let request_id = request_id.get_or_init(|| id.to_owned());
                        ExecuteParamsRef {
                            action_id,
                            tool: name,
                            parameters: &action.parameters,
                            timeout_ms,
                            attempt,
                            request_id,
                            session_id: None,
                            call_id: CallId { run: call.run, proposal: proposal_id, action: action_id, attempt },
                            redelivery: call.redelivery,
                            traceparent: span.traceparent(),
                        }
                    },
                    wait,
                )
                .await;
            let (error, retryable, terminal) = match outcome {
                Ok(output) => {
                    guard.armed = false;
                    turn.status = ActionStatus::Succeeded;
                    turn.output = Some(output);
                    turn.error = None;
                    turn.duration_ms = started.elapsed().as_millis() as u64;
                    return (turn, false);
                }
                Err(CallError::Timeout { timeout_ms, .. }) => {
                    guard.reason = "timeout";
                    (format!("no reply to tools.execute within {timeout_ms} ms"), true, false)
                }
                Err(CallError::Remote { error, .. }) => {
                    guard.armed = false;
                    let terminal =
                        error.data.as_ref().and_then(|d| d.get("terminal")).and_then(Value::as_bool) == Some(true);
                    (error.message, true, terminal)
                }
                Err(CallError::Disconnected { .. }) => {
                    guard.armed = false;
                    ("the connection closed before the tool answered".to_owned(), false, true)
                }
            };
            drop(guard);
            turn.status = ActionStatus::Failed;
            turn.error = Some(error);
            if terminal || !retryable {
                turn.duration_ms = started.elapsed().as_millis() as u64;
                return (turn, true);
            }
        }
        turn.duration_ms = started.elapsed().as_millis() as u64;
        (turn, abort_on_failure)
    }
}

impl Runs {
    /// An executed action's outcome, for operators: its span ended and its latency counted.
    pub(crate) fn traced_call(&self, span: ToolSpan, run: &str, turn: &Turn) {
        if turn.status == ActionStatus::Skipped {
            return;
        }
        let outcome = status_label(turn.status);
        self.observer().tool_call(outcome, Duration::from_millis(turn.duration_ms));
        let call_id = || format!("{run}:{}:{}:{}", turn.proposal_id, turn.action_id, turn.attempts);
        let error = match turn.status {
            ActionStatus::Succeeded => None,
            _ => Some((error_type(turn), turn.error.as_deref().unwrap_or(outcome))),
        };
        span.finish(call_id, turn.attempts, error, turn.output.as_ref());
    }
}

/// A proposal's answer, sent by its last turn's append the moment the turn is durable.
pub(crate) struct EarlyReply<'a> {
    pub(crate) early: Early,
    pub(crate) proposal_id: &'a str,
    /// The results of the actions before the last.
    pub(crate) before: &'a [ActionResult],
}

impl EarlyReply<'_> {
    /// The reply with `turn` (as journalled) as the last result, made now.
    pub(crate) fn prepare(self, turn: &Turn) -> Option<Prepared> {
        let last = ActionResultRef {
            action_id: &turn.action_id,
            status: turn.status,
            output: turn.output.as_ref(),
            error: turn.error.as_deref(),
            duration_ms: Some(turn.duration_ms),
        };
        let results = ResultsRef { before: self.before, last };
        self.early.prepare(&SubmitResultRef { proposal_id: self.proposal_id, results })
    }
}

/// What makes a `tools.execute` recognisable across redeliveries.
pub(crate) struct CallRef<'a> {
    pub(crate) run: &'a str,
    pub(crate) proposal: &'a str,
    /// The proposal was submitted before: this call may have run already.
    pub(crate) redelivery: bool,
}

pub(crate) fn result_of(turn: Turn) -> ActionResult {
    ActionResult {
        action_id: turn.action_id,
        status: turn.status,
        output: turn.output,
        error: turn.error,
        duration_ms: Some(turn.duration_ms),
    }
}

/// Tells the client to stop a tool call the server no longer waits for,
/// including when the proposal itself is cancelled and this future dropped.
struct CancelGuard<'a> {
    client: &'a Arc<dyn Peer>,
    action_id: &'a str,
    request_id: &'a OnceLock<String>,
    armed: bool,
    reason: &'static str,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        let Some(request_id) = self.request_id.get().filter(|_| self.armed) else { return };
        let params = CancelParams {
            request_id: request_id.clone(),
            action_id: self.action_id.to_owned(),
            reason: self.reason.to_owned(),
        };
        let client = self.client.clone();
        tokio::spawn(async move {
            let _ = client.notice::<Cancel>(&params, false).await;
        });
    }
}

/// `a1`, `a2`, …: the id of the `n`th action (from 0) when the proposal names none.
fn default_action_id(n: usize) -> String {
    const FIRST: [&str; 4] = ["a1", "a2", "a3", "a4"];
    FIRST.get(n).map_or_else(|| format!("a{}", n + 1), |id| (*id).to_owned())
}

fn new_turn(proposal_id: &str, action_id: &str, action: &Action) -> Turn {
    Turn {
        index: 0,
        proposal_id: proposal_id.to_owned(),
        action_id: action_id.to_owned(),
        tool: action.tool.clone().unwrap_or_default(),
        parameters: action.parameters.clone(),
        prompt: action.parameters.get("prompt").and_then(Value::as_str).map(str::to_owned),
        output: None,
        error: None,
        status: ActionStatus::Skipped,
        duration_ms: 0,
        attempts: 0,
        recorded_at: String::new(),
        redelivered: false,
        inherited: false,
        usage: None,
        budget: None,
    }
}

fn skipped(proposal_id: &str, action_id: &str, action: &Action) -> Turn {
    let mut turn = new_turn(proposal_id, action_id, action);
    turn.error = Some("skipped: an earlier action aborted the proposal".into());
    turn
}

fn reject(mut turn: Turn, problem: String, abort: bool) -> (Turn, bool) {
    turn.status = ActionStatus::Rejected;
    turn.error = Some(problem);
    (turn, abort)
}

fn status_label(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Succeeded => "succeeded",
        ActionStatus::Failed => "failed",
        ActionStatus::Rejected => "rejected",
        ActionStatus::Skipped => "skipped",
    }
}

/// `error.type` of a call's span: low-cardinality, as the conventions ask.
fn error_type(turn: &Turn) -> &'static str {
    match turn.status {
        ActionStatus::Rejected => "rejected",
        _ if turn.error.as_deref().is_some_and(|e| e.starts_with("no reply to tools.execute")) => "timeout",
        _ if turn.error.as_deref().is_some_and(|e| e.starts_with("the connection closed")) => "disconnected",
        _ => "tool_error",
    }
}
