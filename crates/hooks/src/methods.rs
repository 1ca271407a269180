//! Thin handlers for hooks, policy, approvals, breakers, delegation, memory.
//! Who may call what is declared here, at registration; `core` enforces it.

use std::sync::Arc;

use tether_core::RpcError;
use tether_core::{Principal, Registry};
use tether_proto::hooks::{
    ApprovalsList, ApprovalsRequest, ApprovalsResolve, ApprovalsWait, AuditRecent, BreakersStatus, Delegate, Ingest,
    MemoryReport, PolicyCheck, PolicyGet, PolicyReload,
};

use tether_proto::overseers;

use crate::Hooks;

pub fn register(registry: &mut Registry, hooks: Arc<Hooks>) {
    // A hook whose connection goes (Claude Code killed `tether hook` at its timeout) is
    // dropped mid-wait, so its approval stops reading `waiting` and can be abandoned.
    registry.register_with::<Ingest, _, _, _>(&hooks, |h, cx, p| async move {
        tokio::select! {
            result = h.ingest(cx.principal(), p) => Ok(result?),
            () = cx.closed() => Err(RpcError::Internal("the connection closed before the hook was answered".into())),
        }
    });
    // Any identity may ask its human; the approval is accounted to it.
    registry.register_with::<ApprovalsRequest, _, _, _>(&hooks, |h, cx, p| async move {
        Ok(h.request_approval(cx.principal(), p).await?)
    });
    // And wait again for its answer (its own question only: the handler checks).
    registry.register_with::<ApprovalsWait, _, _, _>(&hooks, |h, cx, p| async move {
        Ok(h.wait_approval(cx.principal(), p).await?)
    });
    // Any identity may ask what the policy would answer its own tool call.
    registry.register_with::<PolicyCheck, _, _, _>(&hooks, |h, _, p| async move { Ok(h.check(p)) }).reads();
    // The policy names files and patterns: the operator's to read.
    registry
        .register_with::<PolicyGet, _, _, _>(&hooks, |h, _, _| async move { Ok(h.policy_info()) })
        .operator_only()
        .reads();
    registry
        .register_with::<PolicyReload, _, _, _>(&hooks, |h, _, _| async move { Ok(h.reload_policy()?) })
        .operator_only();
    // Approvals carry other agents' tool inputs.
    registry
        .register_with::<ApprovalsList, _, _, _>(&hooks, |h, _, p| async move { Ok(h.list_approvals(p.state).await?) })
        .operator_only()
        .reads();
    registry
        .register_with::<ApprovalsResolve, _, _, _>(&hooks, |h, _, p| async move {
            Ok(h.resolve_approval_raising(&p.approval_id, p.decision, p.reason, p.raise).await?)
        })
        .operator_only();
    // An agent sees its own breaker only; asking for another's reads as none.
    registry
        .register_with::<BreakersStatus, _, _, _>(&hooks, |h, cx, p| async move {
            Ok(match cx.principal() {
                Principal::Operator => h.breakers(p.agent.as_deref()),
                Principal::Agent(own) if p.agent.as_deref().is_none_or(|asked| own == asked) => {
                    h.breakers(Some(own.as_str()))
                }
                Principal::Agent(_) => Vec::new(),
            })
        })
        .reads();
    // The audit log holds every agent's decisions.
    registry
        .register_with::<AuditRecent, _, _, _>(&hooks, |h, _, p| async move {
            let limit = p.limit.unwrap_or(100);
            if !(1..=1000).contains(&limit) {
                return Err(RpcError::InvalidParams(format!("params.limit: {limit} is outside 1..=1000")));
            }
            Ok(h.audit.recent(limit, p.session_id.as_deref())?)
        })
        .operator_only()
        .reads();
    registry
        .register_with::<Delegate, _, _, _>(&hooks, |h, cx, p| async move { Ok(h.delegate(cx.principal(), p).await?) });
    // An agent must never review its own gate: overseers are the operator's.
    registry
        .register_with::<overseers::Register, _, _, _>(&hooks, |h, cx, p| async move {
            Ok(h.register_overseer(&cx.caller(), p)?)
        })
        .operator_only();
    registry
        .register_with::<overseers::List, _, _, _>(&hooks, |h, _, _| async move { Ok(h.overseers()) })
        .operator_only()
        .reads();
    registry.server_message::<overseers::ReviewCall>();
    registry.register_with::<MemoryReport, _, _, _>(&hooks, |h, cx, p| async move { Ok(h.memory(cx.principal(), p)?) });
}
