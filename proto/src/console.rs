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
