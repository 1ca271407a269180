//! `[sessions]` settings.

use serde::{Deserialize, Serialize};

pub use crate::confine::Confine;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Sessions provisioning or active at once; past it `sessions.spawn` is refused.
    pub max_active: usize,
    /// Programs a session may run (argv[0], or its file name); empty allows any.
    pub allowed_commands: Vec<String>,
    /// Repository URLs a session may clone (exact, or a prefix ending in `*`); empty allows any.
    pub allowed_repos: Vec<String>,
    /// Longest task text, in bytes.
    pub max_task_bytes: usize,
    /// SIGTERM → SIGKILL grace when `sessions.stop` names none.
    pub stop_grace_ms: u64,
    /// Most bytes one `sessions.output` call returns.
    pub max_output_bytes: usize,
    /// Most bytes a session's output log holds on disk; its oldest part is released past it.
    pub max_log_bytes: u64,
    /// Output streams (`sessions.follow`) one connection may hold.
    pub max_follows: usize,
    /// Hide the daemon's data directory from session processes: `auto`, `required`, `off`.
    pub confine: Confine,
    /// How long a removed session's directory (record and output log) is kept.
    pub removed_retention_ms: u64,
    pub claude_code: ClaudeCodeConfig,
    /// The bounds on names (`[limits.names]`), filled by the assembly.
    #[serde(skip)]
    pub names: tether_core::NameLimits,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            max_active: 16,
            allowed_commands: Vec::new(),
            allowed_repos: Vec::new(),
            max_task_bytes: 64 << 10,
            stop_grace_ms: 5_000,
            max_output_bytes: 1 << 20,
            max_log_bytes: 64 << 20,
            confine: Confine::Auto,
            removed_retention_ms: 86_400_000,
            max_follows: 16,
            claude_code: ClaudeCodeConfig::default(),
            names: tether_core::NameLimits::default(),
        }
    }
}

/// How the `claude-code` runtime builds its argv: `program -p <task> --output-format F …extra_args`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClaudeCodeConfig {
    pub program: String,
    pub output_format: String,
    pub extra_args: Vec<String>,
    /// Pass `--settings` with hooks that run `tether hook` back into this daemon.
    pub hooks: bool,
    /// Pass `--mcp-config` with `tether mcp`, so the agent can ask tether about its runs,
    /// sessions and policy as its session.
    pub mcp: bool,
}

impl Default for ClaudeCodeConfig {
    fn default() -> Self {
        ClaudeCodeConfig {
            program: "claude".into(),
            output_format: "stream-json".into(),
            extra_args: Vec::new(),
            hooks: true,
            mcp: true,
        }
    }
}

/// Claude Code's `timeout` (seconds) for the PreToolUse hook: longer than `tether
/// hook`'s default wait for an approval (300 s) plus its patience with the daemon (10 s).
pub(crate) const PRE_TOOL_USE_TIMEOUT_S: u64 = 330;

/// Claude Code settings whose hooks call `tether hook`. The session runs `claude -p`,
/// where no permission dialog is shown and so PermissionRequest never fires: it is
/// gated by PreToolUse, whose hook waits for the operator's answer to an `ask` (and
/// blocks when the daemon cannot judge the call).
pub fn hook_settings(tether: &str) -> String {
    let command = |extra: &str| serde_json::json!([{"matcher": "*", "hooks": [{"type": "command", "command": format!("{tether} hook{extra}")}]}]);
    let plain =
        |extra: &str| serde_json::json!([{"hooks": [{"type": "command", "command": format!("{tether} hook{extra}")}]}]);
    let gate = serde_json::json!([{"matcher": "*", "hooks": [{"type": "command", "command": format!("{tether} hook"),
        "timeout": PRE_TOOL_USE_TIMEOUT_S}]}]);
    serde_json::json!({
        "hooks": {
            "PreToolUse": gate,
            "PostToolUse": command(""),
            "PostToolUseFailure": command(""),
            "UserPromptSubmit": plain(""),
            "Stop": plain(""),
            "SubagentStop": plain(""),
            "Notification": plain(""),
            "SessionStart": plain(""),
        }
    })
    .to_string()
}

/// Claude Code's `--mcp-config` for `tether mcp`. The URL and token reach the bridge
/// through Claude Code's `${VAR}` expansion of the session's own environment, so the
/// token is never on a command line.
pub fn mcp_config(tether: &str) -> String {
    serde_json::json!({
        "mcpServers": {
            "tether": {
                "type": "stdio",
                "command": tether,
                "args": ["mcp"],
                "env": {"TETHER_URL": "${TETHER_URL}", "TETHER_TOKEN": "${TETHER_TOKEN}"},
            }
        }
    })
    .to_string()
}

impl SessionsConfig {
    pub(crate) fn command_allowed(&self, program: &str) -> bool {
        let file_name = std::path::Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or(program);
        self.allowed_commands.is_empty() || self.allowed_commands.iter().any(|c| c == program || c == file_name)
    }

    pub(crate) fn repo_allowed(&self, url: &str) -> bool {
        self.allowed_repos.is_empty()
            || self.allowed_repos.iter().any(|allowed| match allowed.strip_suffix('*') {
                Some(prefix) => url.starts_with(prefix),
                None => url == allowed,
            })
    }
}
