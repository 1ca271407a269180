use serde::Deserialize;

/// `[console]` in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve `/console/` and accept `console.login`.
    pub enabled: bool,
    /// How long a login code may wait to be used (once).
    pub code_ttl_ms: u64,
    /// How long a console session lasts after its code was used.
    pub session_ttl_ms: u64,
    /// Login codes waiting to be used, at most.
    pub max_codes: usize,
    /// Console sessions alive at once, at most (the oldest is dropped past it).
    pub max_sessions: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            code_ttl_ms: 60_000,
            session_ttl_ms: 8 * 3600 * 1000,
            max_codes: 16,
            max_sessions: 64,
        }
    }
}
