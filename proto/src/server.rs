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
}

crate::method!(
    Handshake, "server.handshake", HandshakeParams => HandshakeResult,
    "Negotiate the protocol version and capabilities; required before application methods."
);
crate::method!(Ping, "server.ping", NoParams => String, "Answers \"pong\".");
