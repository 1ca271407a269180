//! Budgets: a run's limits (`runs.start`'s `budget`, else the configured default), its
//! usage summed over its own turns, and the check before each action. A breach holds
//! the proposal on an approval of kind `budget`, asked through a `BudgetGate` (the
//! assembly hands it the approvals board, so the CLI, the console and
//! `approvals.resolve` settle it): allowed raises the limit (by the operator's amount
//! or `runs.budget_step`), denied ends the run `budget_exceeded`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::json;
use tether_core::{AgentId, Caller};
use tether_proto::proposal::ActionStatus;
use tether_proto::runs::{Budget, BudgetBreach, RunDetail, RunRecord, RunRef, Turn, Usage, UsageTotals};

use crate::error::{RunsError, invalid};
use crate::records::parse_record;
use crate::run::Run;
use crate::runs::Runs;

/// The largest value any budget field may hold (and any reported usage number).
pub(crate) const MAX_BUDGET: f64 = 1e12;

/// A breach the operator is asked about.
#[derive(Debug, Clone)]
pub struct BudgetAsk {
    pub run_id: String,
    pub agent_id: String,
    pub session_id: Option<String>,
    pub breach: BudgetBreach,
    pub budget: Budget,
    pub usage: UsageTotals,
}

/// The operator's answer.
#[derive(Debug, Clone)]
pub enum BudgetVerdict {
    /// Raise the limit by this much (`None`: `runs.budget_step`).
    Raise(Option<f64>),
    Deny {
        approval_id: Option<String>,
        reason: Option<String>,
    },
}

/// Where breaches are asked about; without one, a breach is denied at once.
pub trait BudgetGate: Send + Sync {
    fn ask(&self, ask: BudgetAsk) -> Pin<Box<dyn Future<Output = BudgetVerdict> + Send + '_>>;
}

impl Runs {
    pub fn set_budget_gate(&self, gate: Arc<dyn BudgetGate>) {
        let _ = self.budget_gate.set(gate);
    }

    /// The budget a new run of `agent` gets: its own (checked), else its agent's, else the default.
    pub(crate) fn budget_for(&self, agent: &AgentId, asked: Option<Budget>) -> Result<Option<Budget>, RunsError> {
        if let Some(budget) = asked {
            check(&budget)?;
            return Ok(Some(budget));
        }
        Ok(self.config.agent_budgets.get(agent.as_str()).or(self.config.default_budget.as_ref()).cloned())
    }

    /// The run's usage: summed as turns land, or (a run rebuilt at open) read once.
    pub(crate) async fn usage_of(&self, run: &Run) -> Result<UsageTotals, RunsError> {
        if let Some(usage) = run.state.lock().usage.clone() {
            return Ok(usage);
        }
        let records = run.state.lock().records as usize;
        let stored = self.store.read(run.id, 0..records).await.map_err(|e| crate::records::corrupt_or(e, run.id))?;
        let mut usage = UsageTotals::default();
        let mut budget = None;
        for record in stored {
            if let Some(RunRecord::Turn(turn)) = parse_record::<RunRecord>(&record.payload, run.id) {
                add_turn(&mut usage, &turn);
                budget = turn.budget.or(budget);
            }
        }
        let mut state = run.state.lock();
        if let Some(raised) = budget {
            state.budget = Some(raised);
        }
        state.usage = Some(usage.clone());
        Ok(usage)
    }

    /// `runs.get`.
    pub async fn get_run(&self, caller: &Caller, params: RunRef) -> Result<RunDetail, RunsError> {
        let run = self.readable_anywhere(caller, &params.run_id).await?;
        let mut usage = self.usage_of(&run).await?;
        let summary = run.summary();
        let state = run.state.lock();
        usage.duration_ms = elapsed_ms(&run.started_at, state.ended_at.as_deref());
        Ok(RunDetail {
            summary,
            forked_from: state.forked_from.clone(),
            replay_of: state.replay_of.clone(),
            budget: state.budget.clone(),
            usage,
            budget_exceeded: state.breach.clone(),
        })
    }

    /// Before an action of `run`: within budget (`Ok(None)`), a limit raised by an
    /// approval (`Ok(Some(budget))`, to journal on the next turn), or denied (`Err`:
    /// the breach and the reason the unrun actions are rejected with).
    pub(crate) async fn within_budget(
        &self,
        run: &Run,
        pending: Option<&Usage>,
    ) -> Result<Option<Budget>, (BudgetBreach, String)> {
        let mut raised = None;
        loop {
            let Some(budget) = run.state.lock().budget.clone() else { return Ok(raised) };
            let mut usage = match self.usage_of(run).await {
                Ok(usage) => usage,
                Err(error) => {
                    let breach = BudgetBreach { limit: "unknown".into(), max: 0.0, used: 0.0 };
                    return Err((breach, format!("budget: the run's usage could not be read: {error}")));
                }
            };
            usage.duration_ms = elapsed_ms(&run.started_at, None);
            let Some(breach) = breach(&budget, &usage, pending) else { return Ok(raised) };
            let Some(gate) = self.budget_gate.get() else {
                let reason = describe(&breach, "no approvals board to ask");
                return Err((breach, reason));
            };
            let ask = BudgetAsk {
                run_id: run.id.to_string(),
                agent_id: run.agent_id.to_string(),
                session_id: run.agent_id.session_id().map(str::to_owned),
                breach: breach.clone(),
                budget: budget.clone(),
                usage,
            };
            match gate.ask(ask).await {
                BudgetVerdict::Raise(by) => {
                    let raised_budget = raise(&budget, &breach.limit, by, &self.config.budget_step);
                    run.state.lock().budget = Some(raised_budget.clone());
                    raised = Some(raised_budget);
                }
                BudgetVerdict::Deny { approval_id, reason } => {
                    let why = match (approval_id, reason) {
                        (Some(id), Some(reason)) => format!("approval {id} denied: {reason}"),
                        (Some(id), None) => format!("approval {id} denied"),
                        (None, reason) => reason.unwrap_or_else(|| "denied".into()),
                    };
                    let reason = describe(&breach, &why);
                    return Err((breach, reason));
                }
            }
        }
    }
}

fn describe(breach: &BudgetBreach, why: &str) -> String {
    format!("budget {} = {} would be passed ({}): {why}", breach.limit, breach.max, breach.used)
}

/// Adds a turn to the usage: its reported usage, and one tool call if it executed.
pub(crate) fn add_turn(usage: &mut UsageTotals, turn: &Turn) {
    if turn.inherited {
        return;
    }
    if matches!(turn.status, ActionStatus::Succeeded | ActionStatus::Failed) {
        usage.tool_calls += 1;
    }
    if let Some(reported) = &turn.usage {
        usage.input_tokens = usage.input_tokens.saturating_add(reported.input_tokens.unwrap_or(0));
        usage.output_tokens = usage.output_tokens.saturating_add(reported.output_tokens.unwrap_or(0));
        usage.cost_usd += reported.cost_usd.unwrap_or(0.0);
    }
}

/// The first limit the next action would pass, given what the proposal reported.
pub(crate) fn breach(budget: &Budget, usage: &UsageTotals, pending: Option<&Usage>) -> Option<BudgetBreach> {
    let pending = pending.cloned().unwrap_or_default();
    let over = |limit: &str, max: Option<f64>, used: f64| {
        max.filter(|max| used > *max).map(|max| BudgetBreach { limit: limit.into(), max, used })
    };
    let tokens = usage.input_tokens
        + usage.output_tokens
        + pending.input_tokens.unwrap_or(0)
        + pending.output_tokens.unwrap_or(0);
    over("max_tool_calls", budget.max_tool_calls.map(|n| n as f64), (usage.tool_calls + 1) as f64)
        .or_else(|| over("max_tokens", budget.max_tokens.map(|n| n as f64), tokens as f64))
        .or_else(|| over("max_cost_usd", budget.max_cost_usd, usage.cost_usd + pending.cost_usd.unwrap_or(0.0)))
        .or_else(|| over("max_duration_ms", budget.max_duration_ms.map(|n| n as f64), usage.duration_ms as f64))
}

/// The budget with `limit` raised by `by` (or the configured step). A raise too small
/// to make room leaves the action over budget, and the operator is asked again.
pub(crate) fn raise(budget: &Budget, limit: &str, by: Option<f64>, step: &Budget) -> Budget {
    let mut out = budget.clone();
    let up = |current: Option<u64>, step: Option<u64>| {
        let by = by.map_or(step.unwrap_or(1), |b| b.ceil().max(1.0) as u64);
        current.map(|c| c.saturating_add(by))
    };
    match limit {
        "max_tool_calls" => out.max_tool_calls = up(budget.max_tool_calls, step.max_tool_calls),
        "max_tokens" => out.max_tokens = up(budget.max_tokens, step.max_tokens),
        "max_duration_ms" => out.max_duration_ms = up(budget.max_duration_ms, step.max_duration_ms),
        "max_cost_usd" => {
            let by = by.or(step.max_cost_usd).unwrap_or(1.0);
            out.max_cost_usd = budget.max_cost_usd.map(|c| c + by);
        }
        _ => {}
    }
    out
}

/// Budget numbers are bounded: finite, not negative, at most `MAX_BUDGET`.
pub(crate) fn check(budget: &Budget) -> Result<(), RunsError> {
    within(
        "budget",
        [
            ("budget.max_tool_calls", budget.max_tool_calls.map(|n| n as f64)),
            ("budget.max_duration_ms", budget.max_duration_ms.map(|n| n as f64)),
            ("budget.max_tokens", budget.max_tokens.map(|n| n as f64)),
            ("budget.max_cost_usd", budget.max_cost_usd),
        ],
    )
}

/// Reported usage is bounded like a budget.
pub(crate) fn check_usage(usage: &Usage) -> Result<(), RunsError> {
    within(
        "usage",
        [
            ("usage.input_tokens", usage.input_tokens.map(|n| n as f64)),
            ("usage.output_tokens", usage.output_tokens.map(|n| n as f64)),
            ("usage.cost_usd", usage.cost_usd),
        ],
    )
}

fn within<const N: usize>(param: &'static str, fields: [(&str, Option<f64>); N]) -> Result<(), RunsError> {
    for (field, value) in fields {
        if let Some(v) = value
            && !(v.is_finite() && (0.0..=MAX_BUDGET).contains(&v))
        {
            return Err(invalid(param, format!("{field} = {v} is outside 0..={MAX_BUDGET}")));
        }
    }
    Ok(())
}

/// Milliseconds from `started_at` to `ended_at` (or now).
pub(crate) fn elapsed_ms(started_at: &str, ended_at: Option<&str>) -> u64 {
    let Some(start) = tether_core::stamp::parse(started_at) else { return 0 };
    let end = ended_at.and_then(tether_core::stamp::parse).unwrap_or_else(time::OffsetDateTime::now_utc);
    (end - start).whole_milliseconds().max(0) as u64
}

/// The input of a budget approval: the run, the limit, the budget and the usage.
pub fn approval_input(ask: &BudgetAsk) -> serde_json::Value {
    json!({
        "run_id": ask.run_id,
        "limit": ask.breach.limit,
        "max": ask.breach.max,
        "used": ask.breach.used,
        "budget": ask.budget,
        "usage": ask.usage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_budget_and_usage_numbers_are_refused_naming_the_field() {
        let huge = Budget { max_tokens: Some(u64::MAX), ..Default::default() };
        let negative = Budget { max_cost_usd: Some(-1.0), ..Default::default() };
        let endless = Usage { cost_usd: Some(f64::INFINITY), ..Default::default() };
        for (refused, field) in [
            (check(&huge), "budget.max_tokens"),
            (check(&negative), "budget.max_cost_usd"),
            (check_usage(&endless), "usage.cost_usd"),
        ] {
            let message = refused.expect_err(field).to_string();
            assert!(message.contains(field), "{message}");
        }
        let fine = Budget { max_tool_calls: Some(3), max_cost_usd: Some(2.5), ..Default::default() };
        assert!(check(&fine).is_ok());
    }

    #[test]
    fn the_third_call_passes_a_limit_of_two_and_a_raise_makes_room() {
        let budget = Budget { max_tool_calls: Some(2), ..Default::default() };
        let mut usage = UsageTotals { tool_calls: 1, ..Default::default() };
        assert!(breach(&budget, &usage, None).is_none());
        usage.tool_calls = 2;
        let found = breach(&budget, &usage, None).unwrap();
        assert_eq!((found.limit.as_str(), found.max, found.used), ("max_tool_calls", 2.0, 3.0));
        let step = Budget { max_tool_calls: Some(10), ..Default::default() };
        assert_eq!(raise(&budget, "max_tool_calls", Some(1.0), &step).max_tool_calls, Some(3));
        assert_eq!(raise(&budget, "max_tool_calls", None, &step).max_tool_calls, Some(12));
    }

    #[test]
    fn reported_tokens_and_cost_count_before_the_action() {
        let budget = Budget { max_tokens: Some(100), max_cost_usd: Some(0.5), ..Default::default() };
        let usage = UsageTotals { input_tokens: 60, ..Default::default() };
        let pending = Usage { output_tokens: Some(50), ..Default::default() };
        assert_eq!(breach(&budget, &usage, Some(&pending)).unwrap().limit, "max_tokens");
        let pending = Usage { cost_usd: Some(0.6), ..Default::default() };
        assert_eq!(breach(&budget, &usage, Some(&pending)).unwrap().limit, "max_cost_usd");
        assert!(check(&Budget { max_cost_usd: Some(f64::NAN), ..Default::default() }).is_err());
    }
}
