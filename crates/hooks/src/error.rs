//! Errors of the hooks domain, and their one mapping into `RpcError`.

use tether_core::RpcError;
use tether_proto::hooks::BreakerState;

#[derive(Debug, thiserror::Error)]
pub enum HooksError {
    #[error("params.{field}: {problem}")]
    InvalidParams { field: &'static str, problem: String },
    #[error("policy: {0}")]
    Policy(String),
    /// A `[hooks]` setting the daemon cannot start with.
    #[error("{0}")]
    Config(String),
    #[error("params.approval_id: no pending approval {:?}", tether_core::excerpt(.0, 64))]
    UnknownApproval(String),
    #[error("the circuit breaker for agent {agent:?} is {state}: delegation refused (retry in {retry_in_ms} ms)")]
    BreakerOpen { agent: String, state: BreakerState, retry_in_ms: u64 },
    #[error("hooks storage: {0}")]
    Io(String),
    #[error("{what} ({limit} = {value})")]
    Limit { what: &'static str, limit: &'static str, value: usize },
    /// A check core defines (a name over its bound), passed through as core shaped it.
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

impl From<std::io::Error> for HooksError {
    fn from(e: std::io::Error) -> Self {
        HooksError::Io(e.to_string())
    }
}

impl From<HooksError> for RpcError {
    fn from(error: HooksError) -> Self {
        let message = error.to_string();
        match error {
            HooksError::InvalidParams { .. }
            | HooksError::UnknownApproval(_)
            | HooksError::Policy(_)
            | HooksError::Config(_) => RpcError::InvalidParams(message),
            HooksError::BreakerOpen { .. } => RpcError::Denied(message),
            HooksError::Io(_) => RpcError::Internal(message),
            HooksError::Limit { what, limit, value } => RpcError::limit(what, limit, value),
            HooksError::Rpc(error) => error,
        }
    }
}

pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> HooksError {
    HooksError::InvalidParams { field, problem: problem.into() }
}
