//! `console.*`: logging a browser into the web console.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct LoginParams {
    /// The console may only read: no approve, stop, resume or any other change.
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LoginResult {
    /// Single use, short-lived: the page sends it as the token of `session.auth`.
    pub code: String,
    /// RFC 3339: unused after this, the code is refused.
    pub expires_at: String,
    pub read_only: bool,
    /// Where to open it on the daemon's TCP address: `/console/#code=…` (a fragment is
    /// never sent to a server, so the code stays out of request logs).
    pub path: String,
    /// The whole URL on the daemon's TCP listener, e.g. `http://127.0.0.1:9100/console/#code=…`.
    pub url: String,
}

crate::method!(Login, "console.login", LoginParams => LoginResult, "Mint a single-use login code for the web console (operator only).");

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct LogoutParams {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LogoutResult {
    /// The console session that ended (its id as `console.sessions` lists it).
    pub session_id: String,
}

crate::method!(Logout, "console.logout", LogoutParams => LogoutResult, "End the calling console session: its credential is refused from now on and every connection it opened is closed.");

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct SessionsParams {}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ConsoleSession {
    /// A name for the session (not its credential): what `console.revoke` takes.
    pub session_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: its connections are closed then.
    pub expires_at: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionsResult {
    /// Oldest first.
    pub sessions: Vec<ConsoleSession>,
}

crate::method!(Sessions, "console.sessions", SessionsParams => SessionsResult, "List the console sessions alive (operator only).");

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct RevokeParams {
    /// The session to end; omitted with `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// End every console session.
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RevokeResult {
    /// How many sessions ended (0: none matched).
    pub revoked: usize,
}

crate::method!(Revoke, "console.revoke", RevokeParams => RevokeResult, "End a console session, or all of them: their credentials are refused and their connections closed (operator only).");
