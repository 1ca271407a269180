//! `server.*`: handshake and liveness.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::NoParams;

/// The only wire protocol version tether speaks (CAR protocol 3).
pub const PROTOCOL_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HandshakeParams {
    /// The newest version the client speaks.
    pub protocol_version: u32,
    /// The oldest version the client speaks; defaults to `protocol_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version_min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    #[serde(default)]
    pub required_capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional_capabilities: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct HandshakeResult {
    pub protocol_version: u32,
    pub server_protocol_version_min: u32,
    pub server_protocol_version_max: u32,
    pub server_version: String,
    pub negotiated_capabilities: Vec<String>,
    /// The connection's credential allows only methods that read (a read-only console).
    /// Said here for a connection that authenticated at the upgrade, which never sees
    /// `session.auth`'s answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Issued at the upgrade in exchange for a single-use token (a console login code):
    /// authenticate with it from now on, until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<crate::session::IssuedCredential>,
}

crate::method!(
    Handshake, "server.handshake", HandshakeParams => HandshakeResult,
    "Negotiate the protocol version and capabilities; required before application methods."
);
crate::method!(Ping, "server.ping", NoParams => String, "Answers \"pong\".");
