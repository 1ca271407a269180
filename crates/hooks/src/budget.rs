//! A run's budget approval: the runs domain holds a proposal whose next action would
//! pass a limit and asks here. It is an ordinary approval (kind `budget`) on the same
//! board as hooks' own, so `approvals.list`/`approvals.resolve`, the CLI and the
//! console settle it; the run waits for the settlement (or the expiry, a denial).

use std::time::Duration;

use serde_json::Value;
use tether_events::Scope;
use tether_proto::events::Published;
use tether_proto::hooks::ApprovalState;

use crate::Hooks;
use crate::approvals::{Asked, Outcome};
use crate::error::HooksError;

/// The largest raise one resolution may give (a limit is a count, milliseconds,
/// tokens or dollars; past this it is a typo, not a budget).
pub(crate) const MAX_RAISE: f64 = 1e12;

/// How a budget approval settled.
#[derive(Debug, Clone)]
pub struct BudgetAnswer {
    pub approval_id: String,
    pub allowed: bool,
    /// The operator's raise, when allowed with one.
    pub raise: Option<f64>,
    pub reason: Option<String>,
}

impl Hooks {
    /// Opens a `budget` approval for a run (`input` names the run, the limit, the
    /// budget and the usage) and waits until it is resolved or expires (a denial).
    pub async fn ask_budget(
        &self,
        agent_id: &str,
        session_id: Option<String>,
        run_id: &str,
        limit: &str,
        input: Value,
    ) -> Result<BudgetAnswer, HooksError> {
        let asked = Asked {
            session_id: session_id.clone(),
            agent_id: Some(agent_id.to_owned()),
            event: "budget",
            tool: Some(limit.to_owned()),
            input,
            rule: None,
            kind: Some("budget".into()),
            flagged_by: None,
            flag_reason: None,
        };
        let approval = self.approvals.create(asked, self.config.max_pending_approvals).await?;
        self.post(&approval).await;
        let owned_id = approval.approval_id.clone();
        let id = owned_id.as_str();
        let waiter = self.approvals.waiter(id)?;
        let scope = Scope {
            session_id: session_id.map(Into::into),
            run_id: Some(run_id.into()),
            agent_id: Some(agent_id.into()),
        };
        let approval = tether_proto::hooks::Approval { waiting: true, ..approval };
        self.events.emit(Published::ApprovalCreated(approval.clone()), scope);
        if let Some(notify) = &self.notify {
            notify.send(&approval);
        }
        let mut waiter = Some(waiter);
        loop {
            let waiting = match waiter.take() {
                Some(waiter) => waiter,
                None => self.approvals.waiter(id)?,
            };
            // Bounded by the approval's expiry inside `wait`.
            match waiting.wait(Duration::from_millis(self.config.approval_ttl_ms.max(1))).await? {
                Outcome::StillPending => continue,
                Outcome::Resolved(resolved) => {
                    return Ok(BudgetAnswer {
                        approval_id: id.to_owned(),
                        allowed: resolved.state == ApprovalState::Allowed,
                        raise: resolved.raise,
                        reason: resolved.reason,
                    });
                }
                Outcome::Expired => {
                    let reason = Some(format!("budget approval {id} expired before anyone resolved it"));
                    return Ok(BudgetAnswer { approval_id: id.to_owned(), allowed: false, raise: None, reason });
                }
            }
        }
    }
}
