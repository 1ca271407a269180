//! Thin handlers for hooks, policy, approvals, breakers, delegation, memory.

use std::sync::Arc;

use tether_core::{Context, Principal, Registry};
use tether_proto::hooks::{
    ApprovalsList, ApprovalsResolve, BreakersStatus, Delegate, Ingest, MemoryReport, PolicyGet, PolicyReload,
};

use crate::Hooks;
use crate::error::HooksError;

fn principal(cx: &Context) -> Principal {
    cx.principal().unwrap_or(Principal::Operator)
}

fn operator(cx: &Context, method: &'static str) -> Result<(), HooksError> {
    if cx.is_operator() { Ok(()) } else { Err(HooksError::OperatorOnly(method)) }
}

pub fn register(registry: &mut Registry, hooks: Arc<Hooks>) {
    registry
        .register_with::<Ingest, _, _, _>(&hooks, |h, cx, p| async move { Ok(h.ingest(&principal(&cx), p).await?) });
    registry.register_with::<PolicyGet, _, _, _>(&hooks, |h, _, _| async move { Ok(h.policy_info()) });
    registry.register_with::<PolicyReload, _, _, _>(&hooks, |h, cx, _| async move {
        operator(&cx, "policy.reload")?;
        Ok(h.reload_policy()?)
    });
    registry.register_with::<ApprovalsList, _, _, _>(&hooks, |h, cx, p| async move {
        // Approvals carry other agents' tool inputs: the operator's to see.
        operator(&cx, "approvals.list")?;
        Ok(h.approvals.list(p.state)?)
    });
    registry.register_with::<ApprovalsResolve, _, _, _>(&hooks, |h, cx, p| async move {
        operator(&cx, "approvals.resolve")?;
        Ok(h.approvals.resolve(&p.approval_id, p.decision, p.reason)?)
    });
    registry
        .register_with::<BreakersStatus, _, _, _>(&hooks, |h, _, p| async move { Ok(h.breakers(p.agent.as_deref())) });
    registry.register_with::<Delegate, _, _, _>(&hooks, |h, cx, p| async move { Ok(h.delegate(&principal(&cx), p)?) });
    registry
        .register_with::<MemoryReport, _, _, _>(&hooks, |h, cx, p| async move { Ok(h.memory(&principal(&cx), p)?) });
}
