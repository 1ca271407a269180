//! Errors of the sessions domain, and their one mapping into `RpcError`.

use tether_core::RpcError;
use tether_proto::sessions::SessionState;

#[derive(Debug, thiserror::Error)]
pub enum SessionsError {
    #[error("params.{field}: {problem}")]
    InvalidParams { field: &'static str, problem: String },
    #[error("params.session_id: no session {0:?}")]
    UnknownSession(String),
    #[error("session {id} is {state}: cannot {action}")]
    WrongState { id: String, state: SessionState, action: &'static str },
    #[error("session {0}: its stdin is detached (the daemon restarted while it ran), so it cannot be written")]
    StdinDetached(String),
    #[error("refused by configuration: {0}")]
    Refused(String),
    #[error("session store: {0}")]
    Io(String),
    /// Already shaped by core (a name over `[limits.names]`).
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("{what} ({limit} = {value})")]
    Limit { what: &'static str, limit: &'static str, value: usize },
}

impl From<std::io::Error> for SessionsError {
    fn from(e: std::io::Error) -> Self {
        SessionsError::Io(e.to_string())
    }
}

impl From<SessionsError> for RpcError {
    fn from(error: SessionsError) -> Self {
        let message = error.to_string();
        match error {
            SessionsError::InvalidParams { .. }
            | SessionsError::UnknownSession(_)
            | SessionsError::WrongState { .. }
            | SessionsError::StdinDetached(_) => RpcError::InvalidParams(message),
            SessionsError::Refused(_) => RpcError::Denied(message),
            SessionsError::Io(_) => RpcError::Internal(message),
            SessionsError::Limit { what, limit, value } => RpcError::limit(what, limit, value),
            SessionsError::Rpc(error) => error,
        }
    }
}

pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> SessionsError {
    SessionsError::InvalidParams { field, problem: problem.into() }
}
