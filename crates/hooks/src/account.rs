//! Whose state a hook changes: the principal's own identity, or one the operator names.

use tether_core::Principal;
use tether_events::Scope;

use crate::input::HookInput;

/// Whose state a hook changes (rate limit, breaker, approvals, events, audit).
/// An agent or session is always accounted as itself; only the operator may name
/// a session or agent (it forwards hooks on their behalf, e.g. `POST /hooks`).
pub(crate) struct Account {
    pub(crate) session_id: Option<String>,
    pub(crate) agent_id: Option<String>,
}

impl Account {
    pub(crate) fn of(principal: &Principal, hook: &HookInput) -> Account {
        Account::named(principal, hook.claude_session_id.clone(), hook.subagent.clone())
    }

    /// The principal's own identity, or for the operator the named one.
    pub(crate) fn named(principal: &Principal, session_id: Option<String>, agent_id: Option<String>) -> Account {
        match principal {
            Principal::Operator => Account { session_id, agent_id },
            Principal::Agent(agent) => {
                Account { session_id: agent.session_id().map(str::to_owned), agent_id: Some(agent.as_str().to_owned()) }
            }
        }
    }

    /// The bucket of rate limits and pressure: the session, else the agent.
    pub(crate) fn rate_key(&self) -> &str {
        self.session_id.as_deref().or(self.agent_id.as_deref()).unwrap_or("-")
    }

    pub(crate) fn scope(&self) -> Scope {
        Scope {
            session_id: self.session_id.as_deref().map(Into::into),
            run_id: None,
            agent_id: self.agent_id.as_deref().map(Into::into),
        }
    }
}
