//! `runs.replay`: each recorded turn of a run re-issued, in order, as an ordinary
//! `tools.execute` to the caller's connection's tools, journalled as a new run
//! (`replay_of`) whose turns keep the recorded proposal and action ids; no model is
//! involved. A tool no longer registered gives a `rejected` turn, as in a proposal.
//! The answer is the new run and its diff against the source.

use tether_core::Caller;
use tether_proto::proposal::{Action, FailureBehavior};
use tether_proto::runs::{Outcome, OutcomeStatus, ReplayParams, ReplayResult, Termination};

use crate::error::RunsError;
use crate::fork::owner_for;
use crate::proposal::CallRef;
use crate::runs::Runs;
use crate::write::{Begin, EndIf};

impl Runs {
    pub async fn replay(&self, caller: &Caller, params: ReplayParams) -> Result<ReplayResult, RunsError> {
        let source = self.readable_anywhere(caller, &params.run_id).await?;
        let recorded = self.turns_of(&source, params.turns).await?;
        crate::run::fits(recorded.len(), self.config.max_turns_per_run, "runs.replay")?;
        let begin = Begin {
            agent_id: owner_for(caller, &source),
            // Names the source, so an events subscriber (`run.started`) can follow it.
            intent: format!("replay of {}", source.id),
            idempotency_key: None,
            forked_from: None,
            replay_of: Some(source.id.to_string()),
            budget: None,
            inherited: Vec::new(),
            current: false,
            traceparent: None,
            tracestate: None,
        };
        let (_, run) = self.begin(caller, begin).await?;
        let run = run.ok_or_else(|| RunsError::Internal("a replay run without a key is always new".into()))?;
        let label = run.id.to_string();
        let mut reserved = run.reserve(recorded.len(), &self.config)?;
        let mut replayed = Vec::with_capacity(recorded.len());
        for turn in &recorded {
            let action = Action {
                id: Some(turn.action_id.clone()),
                kind: "tool_call".into(),
                tool: Some(turn.tool.clone()).filter(|t| !t.is_empty()),
                parameters: turn.parameters.clone(),
                timeout_ms: None,
                max_retries: None,
                // Every recorded decision is re-issued, whatever failed before it.
                failure_behavior: Some(FailureBehavior::Skip),
            };
            let call = CallRef { run: &label, proposal: &turn.proposal_id, redelivery: false };
            let span = run.trace.tool(&turn.tool, &turn.parameters);
            let (again, _) = self.execute(caller, &call, &turn.action_id, &action, &span).await;
            // The epoch a run starts under: nothing can resume a replay mid-way but its
            // owner, whose resume fences this loop out (-32010), as for any proposal.
            let journal = span.journal_append();
            let again = self.append_turn(&run, 0, Box::new(again), &mut reserved, None).await?;
            drop(journal);
            self.traced_call(span, &label, &again);
            replayed.push(again);
        }
        let diff = self.diff_of(&source, &recorded, &run, &replayed);
        let c = &diff.counts;
        let outcome = Outcome {
            status: OutcomeStatus::Done,
            summary: format!(
                "replay of {}: {} same, {} changed, {} only in the source, {} only in the replay",
                source.id, c.same, c.changed, c.only_in_a, c.only_in_b
            ),
            evidence: Vec::new(),
            metrics: Default::default(),
            timestamp: None,
        };
        let termination = Termination::Outcome { status: OutcomeStatus::Done, outcome, budget_exceeded: None };
        self.end(&run, termination, EndIf::Holder(0)).await?;
        self.release(caller, run.id);
        Ok(ReplayResult { run_id: run.id.to_string(), replay_of: source.id.to_string(), diff })
    }
}
