//! `session.auth`: authenticate a connection with a token in its first frame.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Unknown fields are ignored: CAR clients may send more than these.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuthParams {
    pub token: String,
    /// Binds the connection to this agent; without it the connection is the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AuthResult {
    pub ok: bool,
    pub auth_enabled: bool,
    /// The agent this connection is bound to; `null` for the operator.
    pub agent_id: Option<String>,
    /// The credential allows only methods whose `x-effect` is `read`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Issued in exchange for a single-use token (a console login code): authenticate
    /// with it from now on, until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<IssuedCredential>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IssuedCredential {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

crate::method!(
    Auth, "session.auth", AuthParams => AuthResult,
    "Authenticate with the daemon token; the only method allowed before authentication."
);
