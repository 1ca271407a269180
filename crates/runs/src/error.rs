//! Errors of the runs domain, and their one mapping into `RpcError`.

use tether_core::RpcError;
use tether_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("params.{field}: {problem}")]
    InvalidParams { field: &'static str, problem: String },
    /// Unknown and unreadable runs look the same, so this cannot reveal which runs exist.
    #[error("params.run_id: no run {0} (unknown, or not yours)")]
    UnknownRun(String),
    #[error("run {run_id} has already ended ({status})")]
    AlreadyEnded { run_id: String, status: String },
    /// The run (or the idempotency key's run) is another connection's.
    #[error("run ownership conflict: {reason}")]
    Ownership { run_id: Option<ulid::Ulid>, reason: String },
    /// The run was handed to another connection (`runs.resume`): this one writes it no more.
    #[error("run {0} was resumed by another connection: this connection no longer writes it")]
    Superseded(ulid::Ulid),
    #[error("run {0} has a corrupt record on disk (trace_corruption)")]
    Corrupt(String),
    #[error("tools.register: tool {name:?}: {problem}")]
    BadTool { name: String, problem: String },
    #[error(
        "runs.resume needs the capability runs.resume.v1, which this server supports but this connection did not negotiate: list it in server.handshake's optional_capabilities"
    )]
    ResumeNotNegotiated,
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A tool definition, or a connection's tools together, past a `[runs]` cost bound.
    #[error("tools.register: tool {tool:?}: {what}: {value}, over {limit} ({max})")]
    ToolCost { tool: String, what: &'static str, limit: &'static str, max: usize, value: usize },
    /// An unpaged `runs.list` or `runs.get_trace`, or a `runs.subscribe` snapshot, whose reply would be too large.
    #[error(
        "{method}: the reply would be {bytes} bytes or more, over {limit} ({max}): page it (`limit` at most {page_max}; a subscription: a later `from_cursor`)"
    )]
    PageNeeded {
        method: &'static str,
        paging: tether_core::Paging,
        limit: &'static str,
        max: usize,
        bytes: usize,
        page_max: u32,
    },
    /// Already shaped by core (a name over `[limits.names]`).
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("{what} ({limit} = {value})")]
    Limit { what: &'static str, limit: &'static str, value: usize },
    #[error("{0}")]
    Internal(String),
}

impl From<RunsError> for RpcError {
    fn from(error: RunsError) -> Self {
        let message = error.to_string();
        match error {
            RunsError::InvalidParams { .. }
            | RunsError::UnknownRun(_)
            | RunsError::AlreadyEnded { .. }
            | RunsError::BadTool { .. } => RpcError::InvalidParams(message),
            RunsError::ResumeNotNegotiated => RpcError::CapabilityNotNegotiated {
                method: "runs.resume",
                capability: tether_proto::runs::RESUME_CAPABILITY,
            },
            RunsError::Ownership { run_id, .. } => {
                RpcError::OwnershipConflict { run_id: run_id.map(|id| id.to_string()), fenced: false, reason: message }
            }
            // Another node took the run over (a shared store): this node's copy is stale.
            // A resume fenced this connection out, on this node or (below) another one.
            RunsError::Superseded(run_id) | RunsError::Store(StoreError::Fenced { run_id }) => {
                RpcError::OwnershipConflict { run_id: Some(run_id.to_string()), fenced: true, reason: message }
            }
            RunsError::Corrupt(run_id) => RpcError::TraceCorruption { run_id },
            RunsError::Store(StoreError::Unstorable { .. }) => RpcError::InvalidParams(message),
            RunsError::Store(_) | RunsError::Internal(_) => RpcError::Internal(message),
            RunsError::Limit { what, limit, value } => RpcError::limit(what, limit, value),
            RunsError::ToolCost { tool, what, limit, max, value } => {
                RpcError::ToolOverBound { tool, what, limit, max, actual: value }
            }
            RunsError::Rpc(error) => error,
            RunsError::PageNeeded { method, paging, limit, max, bytes, page_max } => {
                RpcError::PageNeeded { method, paging, limit, max, bytes, page_max }
            }
        }
    }
}

pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> RunsError {
    RunsError::InvalidParams { field, problem: problem.into() }
}
