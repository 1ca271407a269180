//! Approvals several daemons share (a PostgreSQL store): each pending approval is
//! posted to the board where any node lists it; a resolution on any node settles
//! it on the board (the first wins), and the node whose hook waits applies it
//! within `BOARD_EVERY`.

use std::sync::Arc;
use std::time::Duration;

use tether_core::stamp;
use tether_events::Scope;
use tether_proto::hooks::{Approval, ApprovalState, Resolution};
use tether_store::Settled;

use crate::Hooks;
use crate::error::HooksError;

/// How often a node looks for its pending approvals settled elsewhere.
const BOARD_EVERY: Duration = Duration::from_millis(200);

/// How often settled approvals past retention are deleted from the board (sooner
/// when the retention itself is shorter).
const PRUNE_EVERY: Duration = Duration::from_secs(60);

fn store_error(error: tether_store::StoreError) -> HooksError {
    match error {
        // A value PostgreSQL cannot hold (a NUL) is the client's mistake, not the store's.
        tether_store::StoreError::Unstorable { field, problem } => HooksError::InvalidParams { field, problem },
        other => HooksError::Io(other.to_string()),
    }
}

fn state_name(state: ApprovalState) -> &'static str {
    match state {
        ApprovalState::Pending => "pending",
        ApprovalState::Allowed => "allowed",
        ApprovalState::Denied => "denied",
        ApprovalState::Expired => "expired",
        ApprovalState::Abandoned => "abandoned",
    }
}

fn expired(approval: &Approval) -> bool {
    stamp::parse(&approval.expires_at).is_some_and(|t| t <= time::OffsetDateTime::now_utc())
}

impl Hooks {
    /// Puts a new pending approval on the board (when shared); a failure leaves it
    /// resolvable on this node only.
    pub(crate) async fn post(&self, approval: &Approval) {
        let Some(board) = &self.board else { return };
        let body = serde_json::to_vec(approval).expect("approvals serialize");
        if let Err(error) = board.post(&approval.approval_id, &body).await {
            tracing::warn!(%error, approval = %approval.approval_id, "approval not shared; resolvable on this node only");
        }
    }

    /// Answers a pending approval, on whichever node it waits: the waiting hook
    /// gets it at once (here) or within `BOARD_EVERY` (elsewhere), and every
    /// subscriber is told, so inboxes drop it as it happens.
    pub async fn resolve_approval(
        &self,
        id: &str,
        decision: Resolution,
        reason: Option<String>,
    ) -> Result<Approval, HooksError> {
        self.resolve_approval_raising(id, decision, reason, None).await
    }

    /// `resolve_approval`, with how much an allowed `budget` approval raises its limit.
    pub async fn resolve_approval_raising(
        &self,
        id: &str,
        decision: Resolution,
        reason: Option<String>,
        raise: Option<f64>,
    ) -> Result<Approval, HooksError> {
        if let Some(raise) = raise
            && !(raise.is_finite() && raise > 0.0 && raise <= crate::budget::MAX_RAISE)
        {
            let max = crate::budget::MAX_RAISE;
            return Err(HooksError::InvalidParams {
                field: "raise",
                problem: format!("{raise} is not a number in (0, {max}]"),
            });
        }
        let Some(board) = &self.board else { return self.resolve_here(id, decision, reason, raise).await };
        let local = self.approvals.get(id);
        let current = match &local {
            Some(approval) => approval.clone(),
            None => {
                board_approvals(self).await?.into_iter().find(|a| a.approval_id == id).ok_or_else(|| unknown(id))?
            }
        };
        if current.state != ApprovalState::Pending || expired(&current) {
            return Err(unknown(id));
        }
        let resolved = crate::approvals::answered(current, decision, reason.clone(), raise);
        let body = serde_json::to_vec(&resolved).expect("approvals serialize");
        match board.settle(id, state_name(resolved.state), &body).await.map_err(store_error)? {
            Settled::Now => {
                if local.is_some() {
                    self.approvals.apply(&resolved).await?;
                }
                self.announce(&resolved);
                Ok(resolved)
            }
            // Never posted (the board was away when it was created): this node decides alone.
            Settled::Unknown if local.is_some() => self.resolve_here(id, decision, reason, raise).await,
            Settled::Unknown | Settled::Already(_) => Err(unknown(id)),
        }
    }

    async fn resolve_here(
        &self,
        id: &str,
        decision: Resolution,
        reason: Option<String>,
        raise: Option<f64>,
    ) -> Result<Approval, HooksError> {
        let approval = self.approvals.resolve(id, decision, reason, raise).await?;
        self.announce(&approval);
        Ok(approval)
    }

    /// Settles what is due (expiry, abandonment) on time, without waiting for a
    /// list or a new hook, and announces it, so inboxes drop it as it happens.
    pub(crate) fn sweep(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let every = Duration::from_millis(self.config.abandon_after_ms.clamp(50, 1000));
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut pruned = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let Some(this) = weak.upgrade() else { return };
                if let Err(error) = this.approvals.expire_due().await {
                    tracing::warn!(%error, "could not settle due approvals; retrying");
                }
                for approval in this.approvals.take_unannounced() {
                    this.announce(&approval);
                }
                // The board's settled approvals go after the same retention as this
                // node's files; any node may delete them (a DELETE is idempotent).
                let retention = Duration::from_millis(this.config.approval_retention_ms);
                if let Some(board) = this.board.as_ref().filter(|_| pruned.elapsed() >= retention.min(PRUNE_EVERY)) {
                    pruned = tokio::time::Instant::now();
                    match board.prune(retention).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::debug!(approvals = n, "settled approvals past retention deleted from the board")
                        }
                        Err(error) => tracing::debug!(%error, "could not prune the approval board; retrying"),
                    }
                }
            }
        });
    }

    fn announce(&self, approval: &Approval) {
        let scope = Scope {
            session_id: approval.session_id.as_deref().map(Arc::from),
            run_id: None,
            agent_id: approval.agent_id.as_deref().map(Arc::from),
        };
        self.events.emit(tether_proto::events::Published::ApprovalResolved(approval.clone()), scope);
    }

    /// `approvals.list`: this node's, and (when shared) every node's.
    pub(crate) async fn list_approvals(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>, HooksError> {
        let mut here = self.approvals.list(None).await?;
        if self.board.is_some() {
            for mut approval in board_approvals(self).await? {
                if approval.state == ApprovalState::Pending && expired(&approval) {
                    approval.state = ApprovalState::Expired;
                }
                match here.iter_mut().find(|a| a.approval_id == approval.approval_id) {
                    // The board knows a settlement made elsewhere before this node applied it
                    // (a pending copy there says nothing more than this node's live one).
                    Some(mine) if mine.state == ApprovalState::Pending && approval.state != ApprovalState::Pending => {
                        *mine = approval
                    }
                    Some(_) => {}
                    None => here.push(approval),
                }
            }
        }
        here.retain(|a| state.is_none_or(|s| a.state == s));
        Ok(here)
    }

    /// With a board: applies settlements made on other nodes to this node's
    /// pending approvals, every `BOARD_EVERY`.
    pub(crate) fn watch_board(self: &Arc<Self>) {
        let Some(board) = self.board.clone() else { return };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(BOARD_EVERY).await;
                let Some(this) = weak.upgrade() else { return };
                let pending = this.approvals.pending_ids();
                if pending.is_empty() {
                    continue;
                }
                let settled = match board.settled_among(&pending).await {
                    Ok(settled) => settled,
                    Err(error) => {
                        tracing::debug!(%error, "could not read the approval board; retrying");
                        continue;
                    }
                };
                for body in settled {
                    let Ok(approval) = serde_json::from_slice::<Approval>(&body) else { continue };
                    match this.approvals.apply(&approval).await {
                        Ok(true) => {
                            tracing::info!(approval = %approval.approval_id, state = ?approval.state, "approval resolved on another node")
                        }
                        Ok(false) => {}
                        Err(error) => tracing::warn!(%error, "could not apply an approval settled elsewhere"),
                    }
                }
            }
        });
    }
}

async fn board_approvals(hooks: &Hooks) -> Result<Vec<Approval>, HooksError> {
    let Some(board) = &hooks.board else { return Ok(Vec::new()) };
    let bodies = board.all().await.map_err(store_error)?;
    Ok(bodies.iter().filter_map(|b| serde_json::from_slice(b).ok()).collect())
}

fn unknown(id: &str) -> HooksError {
    HooksError::UnknownApproval(id.to_owned())
}
