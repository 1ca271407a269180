//! tether's listeners: WebSocket on TCP (plus plain HTTP endpoints, all optionally
//! over TLS) and on a Unix socket, each connection handed to `tether_core::serve_connection`.

mod console;
mod credential;
mod front;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hook_body;
mod http;
mod listener;
mod mcp;
mod pools;
pub mod tls;
pub mod token;

pub use console::{Asset, Site};
pub use listener::{Server, ServerError};
pub use mcp::{McpBody, McpEndpoint, McpRequest, McpResponse};

use std::future::Future;
use std::pin::Pin;

use tether_core::Principal;

/// Answers `POST /hooks` (Claude Code's `type: "http"` hooks): a JSON body in, a
/// JSON reply out, or an error message for a 400.
pub trait HookEndpoint: Send + Sync + 'static {
    fn handle(
        &self,
        principal: Principal,
        body: serde_json::Value,
    ) -> Pin<Box<dyn Future<Output = Result<serde_json::Value, String>> + Send>>;
}

/// Renders `GET /metrics` (Prometheus text), given the server's own connection counts.
pub trait MetricsEndpoint: Send + Sync + 'static {
    /// `connections`: (state, transport, count): `authenticated` and `unauthenticated`
    /// WebSockets on `tcp` and `unix`, and sockets still sending their head (`pending`) on each.
    /// `openmetrics`: the scraper asked for OpenMetrics (`Accept`); otherwise the
    /// Prometheus text format 0.0.4. Returns the body and its content type.
    fn render(
        &self,
        connections: Vec<(&'static str, &'static str, usize)>,
        openmetrics: bool,
    ) -> (String, &'static str);
}

/// What `/healthz` reports beyond "the daemon answers": each domain's problems.
pub trait Health: Send + Sync + 'static {
    /// Empty when healthy; otherwise one sentence per problem (the daemon is then
    /// `degraded` and `/healthz` answers 503).
    fn problems(&self) -> Vec<String>;

    /// Where runs are kept, shown under `store` (the kind, and a shared store's node and lease).
    fn store(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tether_core::{Authenticator, ConnectionConfig};

pub struct ServerConfig {
    /// TCP address for WebSocket and HTTP; port 0 picks a free one.
    pub listen: Option<SocketAddr>,
    /// Unix socket path for WebSocket; its directory must be private (0700).
    pub socket: Option<PathBuf>,
    /// `None` runs without authentication (`--no-auth`).
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Permits a non-loopback `listen` address (which also requires auth).
    pub allow_remote: bool,
    /// Origins allowed to open a WebSocket; any other `Origin` gets 403.
    pub allowed_origins: Vec<String>,
    pub connection: ConnectionConfig,
    /// Serves `POST /hooks` when set.
    pub hooks: Option<Arc<dyn HookEndpoint>>,
    /// Serves `/mcp` (MCP's Streamable HTTP) when set.
    pub mcp: Option<Arc<dyn McpEndpoint>>,
    /// Consulted by `/healthz`.
    pub health: Option<Arc<dyn Health>>,
    /// Serves `GET /metrics` when set.
    pub metrics: Option<Arc<dyn MetricsEndpoint>>,
    /// `/metrics` needs the operator's bearer token (when auth is on).
    pub metrics_auth: bool,
    /// Serves the web console at `/console/` when set, and accepts WebSocket upgrades
    /// from the daemon's own origin (the console's page).
    pub console: Option<Arc<dyn Site>>,
    /// TLS on the TCP port when set (`wss://`, `https://`); see [`tls::server_config`].
    pub tls: Option<Arc<rustls::ServerConfig>>,
}
