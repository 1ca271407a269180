//! The transport-neutral JSON-RPC 2.0 dispatcher.
//!
//! [`serve_connection`] drives one WebSocket connection from any `Stream` of
//! incoming messages and any `Sink` of outgoing ones; listeners and tests both
//! call it. Domain modules add their methods to a [`Registry`], which also feeds
//! `rpc.discover`.

mod auth;
mod broker;
mod caller;
mod connection;
mod context;
mod discover;
mod dispatch;
mod early;
mod error;
mod ids;
mod later;
mod limits;
mod memory;
pub mod methods;
pub mod names;
mod outbound;
mod parse;
mod registry;
mod reply;
pub mod skim;
mod socket;
pub mod stamp;
pub mod trim;

pub use auth::{
    AgentId, AnyOf, Authenticator, BindError, Credential, Grant, Lifetime, Principal, StaticToken, bind_agent,
};
pub use broker::{CallError, callbacks_pending};
pub use caller::{BoxFuture, BuildParams, Caller, Connection, Peer, PeerExt};
pub use connection::{Admission, ConnectionOptions, Shutdown, TransportLimit, serve_connection};
pub use context::Context;
pub use early::{Early, Prepared};
pub use error::{Paging, RpcError, excerpt};
pub use ids::new_id;
pub use later::Later;
pub use limits::{ConnectionConfig, Keepalive, Limits};
pub use memory::{release_free_memory, set_release_free_memory};
pub use names::{NameKind, NameLimits};
pub use outbound::Closed;
pub use registry::{Access, Observer, Phase, Registered, Registry};
pub use reply::Written;

/// The server's own version, reported by `server.handshake` and `/healthz`.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");
