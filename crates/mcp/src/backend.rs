//! Where the MCP tools' calls go: the daemon's JSON-RPC methods.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};
use tokio::sync::OnceCell;

/// Why a call has no result.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The daemon answered with a JSON-RPC error: the agent can read it and recover.
    Rpc { code: i32, message: String, data: Option<Value> },
    /// The daemon could not be reached or the connection broke.
    Unavailable(String),
}

pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send + 'a>>;
pub type Answer<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// Calls one wire method with its params, as the backend's identity.
pub trait Backend: Send + Sync + 'static {
    fn call(&self, method: &'static str, params: Value) -> Reply<'_>;

    /// Whether this identity may resolve approvals (the operator's, not read-only):
    /// the operator's tools are listed and called only then. Asked each time unless
    /// the backend remembers it per identity.
    fn may_resolve(&self) -> Answer<'_> {
        Box::pin(async move { ask_may_resolve(self).await.unwrap_or(false) })
    }
}

impl Backend for tether_client::Client {
    fn call(&self, method: &'static str, params: Value) -> Reply<'_> {
        Box::pin(async move {
            self.call_raw(method, params).await.map_err(|error| match error {
                tether_client::ClientError::Rpc(e) => Failure::Rpc { code: e.code, message: e.message, data: e.data },
                other => Failure::Unavailable(other.to_string()),
            })
        })
    }
}

/// Asks the daemon whether `backend`'s identity may call `approvals.resolve`, by calling
/// it for an approval that cannot exist (an empty id). The dispatcher checks access
/// before the handler looks anything up, so an agent's (or a read-only credential's)
/// call is refused `denied`, and the operator's fails on the id: nothing changes
/// either way, and the daemon stays the only judge of who may do what.
/// `Err` when the daemon cannot be reached (not an answer to remember).
pub(crate) async fn ask_may_resolve<B: Backend + ?Sized>(backend: &B) -> Result<bool, ()> {
    let probe = json!({"approval_id": "", "decision": "deny"});
    match backend.call("approvals.resolve", probe).await {
        Err(Failure::Rpc { code, .. }) => Ok(code != tether_proto::codes::DENIED),
        Ok(_) => Ok(true),
        Err(Failure::Unavailable(_)) => Err(()),
    }
}

/// A backend of one identity that asks [`Backend::may_resolve`] once (`tether mcp`).
pub(crate) struct Remembered {
    pub(crate) inner: std::sync::Arc<dyn Backend>,
    pub(crate) resolves: OnceCell<bool>,
}

impl Backend for Remembered {
    fn call(&self, method: &'static str, params: Value) -> Reply<'_> {
        self.inner.call(method, params)
    }

    fn may_resolve(&self) -> Answer<'_> {
        Box::pin(async move {
            self.resolves.get_or_try_init(|| ask_may_resolve(self.inner.as_ref())).await.copied().unwrap_or(false)
        })
    }
}
