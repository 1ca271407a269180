//! tether as an MCP server. Each tool is one JSON-RPC method of the wire contract,
//! called through a [`Backend`] (the daemon, over its own socket), with schemas
//! generated from the `proto` types the method is declared with: there is no second
//! implementation of anything, only a table (`tools.rs`) and the adapter (`server.rs`).
//!
//! The identity is the backend's: a bridge started inside a managed session connects
//! with the session's token, so the agent sees what that session sees over the
//! WebSocket, and no tool resolves an approval (an agent must not open its own gate).

mod asking;
mod backend;
mod http;
mod resources;
mod server;
mod tools;
mod watch;

pub use backend::{Answer, Backend, Failure, Reply};
pub use http::{HttpEndpoint, MAX_CALLERS};
pub use server::{Caller, McpOptions, TetherMcp};
pub use tools::{OPERATOR_TOOL_NAMES, TOOL_NAMES};
pub use watch::Watches;
