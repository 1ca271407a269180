//! `runs.fork`: a new run, owned by the caller, whose history is another run's first
//! `turns` turns, copied as `inherited` turns right after its `started` record (in the
//! same durable append), which names them in `forked_from`. From there it is an
//! ordinary run: the caller's current run, and its proposals append after them.

use tether_core::{AgentId, Caller, Principal};
use tether_proto::runs::{ForkParams, ForkResult, ForkedFrom, StartParams};

use crate::error::{RunsError, invalid};
use crate::run::Run;
use crate::runs::Runs;
use crate::write::Begin;

impl Runs {
    pub async fn fork(&self, caller: &Caller, params: ForkParams) -> Result<ForkResult, RunsError> {
        // Unknown and unreadable sources answer alike.
        let source = self.readable_anywhere(caller, &params.run_id).await?;
        let total = source.state.lock().turns;
        let turns = params.turns.unwrap_or(total);
        if turns > total {
            return Err(invalid("turns", format!("{turns} is more than the {total} turns run {} has", source.id)));
        }
        crate::run::fits(turns as usize, self.config.max_turns_per_run, "runs.fork")?;
        let intent = params.intent.unwrap_or_else(|| source.intent.clone());
        let checked = StartParams {
            intent: intent.clone(),
            agent_id: None,
            agent_name: None,
            idempotency_key: params.idempotency_key.clone(),
            budget: None,
            traceparent: None,
            tracestate: None,
        };
        crate::agent::check_start(&checked, &self.config)?;
        let agent_id = owner_for(caller, &source);
        let budget = self.budget_for(&agent_id, params.budget)?;
        let mut inherited = self.turns_of(&source, Some(turns)).await?;
        for turn in &mut inherited {
            turn.inherited = true;
            turn.budget = None;
        }
        let forked_from = ForkedFrom { run_id: source.id.to_string(), turns };
        let begin = Begin {
            agent_id,
            intent,
            idempotency_key: params.idempotency_key,
            forked_from: Some(forked_from.clone()),
            replay_of: None,
            budget,
            inherited,
            current: true,
            traceparent: None,
            tracestate: None,
        };
        let (started, _) = self.begin(caller, begin).await?;
        Ok(ForkResult {
            run_id: started.run_id,
            agent_id: started.agent_id,
            client_id: started.client_id,
            forked_from,
            resume_token: started.resume_token,
        })
    }
}

/// Who owns a run made from `source`: an agent-bound caller itself; the operator
/// makes it for the source's agent (whose harness it is).
pub(crate) fn owner_for(caller: &Caller, source: &Run) -> AgentId {
    match caller.principal() {
        Principal::Agent(agent) => agent.clone(),
        Principal::Operator => source.agent_id.clone(),
    }
}
