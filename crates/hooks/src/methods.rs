//! Thin handlers for hooks, policy, approvals, breakers, delegation, memory.

use std::sync::Arc;

use tether_core::{Context, Principal, Registry, RpcError};
use tether_proto::hooks::{
    ApprovalsList, ApprovalsResolve, BreakersStatus, Delegate, Ingest, MemoryReport, PolicyGet, PolicyReload,
};

use crate::Hooks;
use crate::error::HooksError;

fn principal(cx: &Context) -> Principal {
    cx.principal().unwrap_or(Principal::Operator)
}

fn operator(cx: &Context, method: &'static str) -> Result<(), RpcError> {
    match principal(cx) {
        Principal::Operator => Ok(()),
        Principal::Agent(_) => Err(HooksError::OperatorOnly(method).into()),
    }
}

pub fn register(registry: &mut Registry, hooks: Arc<Hooks>) {
    let h = hooks.clone();
    registry.register::<Ingest, _, _>(move |cx, params| {
        let h = h.clone();
        async move { Ok(h.ingest(&principal(&cx), params).await?) }
    });
    let h = hooks.clone();
    registry.register::<PolicyGet, _, _>(move |_, _| {
        let h = h.clone();
        async move { Ok(h.policy_info()) }
    });
    let h = hooks.clone();
    registry.register::<PolicyReload, _, _>(move |cx, _| {
        let h = h.clone();
        async move {
            operator(&cx, "policy.reload")?;
            Ok(h.reload_policy()?)
        }
    });
    let h = hooks.clone();
    registry.register::<ApprovalsList, _, _>(move |cx, params| {
        let h = h.clone();
        async move {
            // Approvals carry other agents' tool inputs: the operator's to see.
            operator(&cx, "approvals.list")?;
            Ok(h.approvals.list(params.state)?)
        }
    });
    let h = hooks.clone();
    registry.register::<ApprovalsResolve, _, _>(move |cx, params| {
        let h = h.clone();
        async move {
            operator(&cx, "approvals.resolve")?;
            Ok(h.approvals.resolve(&params.approval_id, params.decision, params.reason)?)
        }
    });
    let h = hooks.clone();
    registry.register::<BreakersStatus, _, _>(move |_, params| {
        let h = h.clone();
        async move { Ok(h.breakers(params.agent.as_deref())) }
    });
    let h = hooks.clone();
    registry.register::<Delegate, _, _>(move |cx, params| {
        let h = h.clone();
        async move { Ok(h.delegate(&principal(&cx), params)?) }
    });
    let h = hooks;
    registry.register::<MemoryReport, _, _>(move |cx, params| {
        let h = h.clone();
        async move { Ok(h.memory(&principal(&cx), params)?) }
    });
}
