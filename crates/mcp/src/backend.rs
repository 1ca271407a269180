//! Where the MCP tools' calls go: the daemon's JSON-RPC methods.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// Why a call has no result.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The daemon answered with a JSON-RPC error: the agent can read it and recover.
    Rpc { code: i32, message: String, data: Option<Value> },
    /// The daemon could not be reached or the connection broke.
    Unavailable(String),
}

pub type Reply<'a> = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send + 'a>>;

/// Calls one wire method with its params, as the backend's identity.
pub trait Backend: Send + Sync + 'static {
    fn call(&self, method: &'static str, params: Value) -> Reply<'_>;
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
