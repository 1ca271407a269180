//! tether's wire contract: serde types only.
//!
//! Every JSON-RPC method is a [`Method`]: a name bound to its params and result
//! types. The server's registry and `rpc.discover` are both built from these, so
//! the contract lives in exactly one place.

pub mod codes;
pub mod console;
pub mod events;
pub mod hooks;
pub mod jsonrpc;
pub mod overseers;
pub mod proposal;
pub mod rpc;
pub mod runs;
pub mod server;
pub mod session;
pub mod sessions;
pub mod stored;
pub mod tools;

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

pub use jsonrpc::{ErrorObject, Id};

/// A JSON-RPC method: its wire name and the types of its params and result.
pub trait Method {
    const NAME: &'static str;
    /// One line for `rpc.discover`.
    const SUMMARY: &'static str;
    type Params: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    type Result: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
}

/// Declares a unit struct implementing [`Method`].
#[macro_export]
macro_rules! method {
    ($(#[$meta:meta])* $ty:ident, $name:literal, $params:ty => $result:ty, $summary:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl $crate::Method for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            type Params = $params;
            type Result = $result;
        }
    };
}

/// A message the server sends the client: a notification, or a request (`tools.execute`)
/// the client answers. Declared by the domain that sends it, so `rpc.discover` (under
/// `x-server-messages`) describes both directions of the wire.
pub trait ServerMessage {
    const NAME: &'static str;
    const SUMMARY: &'static str;
    /// True for a request the client must answer; false for a notification.
    const REQUEST: bool;
    type Params: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
    /// What the client answers (`()` for a notification).
    type Result: Serialize + DeserializeOwned + JsonSchema + Send + 'static;
}

/// A type whose JSON is that of `T`: `T` itself, or a borrowed twin of a params type
/// that the daemon writes without copying what it already holds (its test compares the
/// two). `PeerExt::request_with` takes one for a request's params.
pub trait Writes<T>: Serialize {}

impl<T: Serialize> Writes<T> for T {}

/// Declares a unit struct implementing [`ServerMessage`] for a notification.
#[macro_export]
macro_rules! notification {
    ($(#[$meta:meta])* $ty:ident, $name:expr, $params:ty, $summary:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty;
        impl $crate::ServerMessage for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            const REQUEST: bool = false;
            type Params = $params;
            type Result = ();
        }
    };
}

/// Params of a method that takes none: accepts `{}` or an absent `params`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, JsonSchema)]
pub struct NoParams {}
