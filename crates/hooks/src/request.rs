//! `approvals.request`: an agent asks its human. The question becomes an approval like
//! a policy's `ask` (same board, events, webhook, console card, expiry and abandonment),
//! with `event` `AgentRequest`, and the caller waits for it as a hook does.

use std::time::Duration;

use serde_json::json;
use tether_core::Principal;
use tether_core::names::NameKind;
use tether_proto::events::Published;
use tether_proto::hooks::{ApprovalRequestParams, ApprovalRequestResult, ApprovalState};

use crate::approvals::{self, Outcome};
use crate::{Account, Hooks, HooksError};

/// The `event` of an approval an agent asked for.
pub const AGENT_REQUEST: &str = "AgentRequest";

impl Hooks {
    pub async fn request_approval(
        &self,
        principal: &Principal,
        params: ApprovalRequestParams,
    ) -> Result<ApprovalRequestResult, HooksError> {
        self.config.names.check_opt(NameKind::Session, "session_id", params.session_id.as_deref())?;
        // The question and its detail are cut like a tool input (head and tail of long strings).
        let mut input = json!({"question": params.question, "detail": params.detail});
        tether_core::trim::bound(&mut input, self.config.max_approval_input_bytes);
        let account = Account::named(principal, params.session_id, None);
        let asked = approvals::Asked {
            session_id: account.session_id.clone(),
            agent_id: account.agent_id.clone(),
            event: AGENT_REQUEST,
            tool: None,
            input,
            rule: None,
            kind: None,
            flagged_by: None,
            flag_reason: None,
        };
        let approval = self.approvals.create(asked, self.config.max_pending_approvals)?;
        self.post(&approval).await;
        let id = approval.approval_id.clone();
        let waiter = self.approvals.waiter(&id)?;
        let approval = tether_proto::hooks::Approval { waiting: true, ..approval };
        self.events.emit(Published::ApprovalCreated(approval.clone()), account.scope());
        if let Some(notify) = &self.notify {
            notify.send(&approval);
        }
        let wait =
            Duration::from_millis(params.wait_ms.unwrap_or(self.config.max_wait_ms).min(self.config.max_wait_ms));
        let (state, reason) = match waiter.wait(wait).await? {
            Outcome::Resolved(resolved) => (resolved.state, resolved.reason),
            Outcome::Expired => (ApprovalState::Expired, Some(format!("approval {id} expired before anyone answered"))),
            Outcome::StillPending => (ApprovalState::Pending, Some("the wait ended before anyone answered".into())),
        };
        Ok(ApprovalRequestResult { approval_id: id, state, reason })
    }
}
