//! `approvals.request`: an agent asks its human. The question becomes an approval like
//! a policy's `ask` (same board, events, webhook, console card, expiry and abandonment),
//! with `event` `AgentRequest`, and the caller waits for it as a hook does.

use std::time::Duration;

use serde_json::json;
use tether_core::Principal;
use tether_core::names::NameKind;
use tether_proto::events::Published;
use tether_proto::hooks::{ApprovalRequestParams, ApprovalRequestResult, ApprovalState, ApprovalWaitParams};

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
        let approval = self.approvals.create(asked, self.config.max_pending_approvals).await?;
        self.post(&approval).await;
        let id = approval.approval_id.clone();
        let waiter = self.approvals.waiter(&id)?;
        let approval = tether_proto::hooks::Approval { waiting: true, ..approval };
        self.events.emit(Published::ApprovalCreated(approval.clone()), account.scope());
        if let Some(notify) = &self.notify {
            notify.send(&approval);
        }
        self.answer_request(&id, waiter, params.wait_ms).await
    }

    /// `approvals.wait`: waits again on an approval the principal asked for. Another
    /// identity's approval reads as unknown (its existence is not the caller's to learn).
    pub async fn wait_approval(
        &self,
        principal: &Principal,
        params: ApprovalWaitParams,
    ) -> Result<ApprovalRequestResult, HooksError> {
        let id = params.approval_id;
        let own = Account::named(principal, None, None);
        let approval = self
            .approvals
            .get(&id)
            .filter(|a| {
                matches!(principal, Principal::Operator)
                    || (a.agent_id == own.agent_id && (own.session_id.is_none() || a.session_id == own.session_id))
            })
            .ok_or_else(|| HooksError::UnknownApproval(id.clone()))?;
        if approval.state != ApprovalState::Pending {
            return Ok(ApprovalRequestResult { approval_id: id, state: approval.state, reason: approval.reason });
        }
        let waiter = self.approvals.waiter(&id)?;
        self.answer_request(&id, waiter, params.wait_ms).await
    }

    async fn answer_request(
        &self,
        id: &str,
        waiter: approvals::Waiter<'_>,
        wait_ms: Option<u64>,
    ) -> Result<ApprovalRequestResult, HooksError> {
        let wait = Duration::from_millis(wait_ms.unwrap_or(self.config.max_wait_ms).min(self.config.max_wait_ms));
        let (state, reason) = match waiter.wait(wait).await? {
            Outcome::Resolved(resolved) => (resolved.state, resolved.reason),
            Outcome::Expired => (ApprovalState::Expired, Some(format!("approval {id} expired before anyone answered"))),
            Outcome::StillPending => (ApprovalState::Pending, Some("the wait ended before anyone answered".into())),
        };
        Ok(ApprovalRequestResult { approval_id: id.to_owned(), state, reason })
    }
}
