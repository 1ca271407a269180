//! `sessions.*`: supervised agent processes that connect back to the daemon.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::runs::RunSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// Runs `command` as given (argv, no shell).
    #[default]
    Command,
    /// Runs Claude Code in print mode on the task (argv from configuration).
    ClaudeCode,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RepoSpec {
    pub url: String,
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnParams {
    pub task: String,
    #[serde(default)]
    pub runtime: Runtime,
    /// argv for the `command` runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// An existing directory to run in (never owned, never deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// A repository to check out into a fresh worktree the daemon owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Provisioning,
    Active,
    Exited,
    Stopped,
    Errored,
    Removed,
}

impl std::fmt::Display for SessionState {
    /// The wire name, for messages meant for people.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SessionState::Provisioning => "provisioning",
            SessionState::Active => "active",
            SessionState::Exited => "exited",
            SessionState::Stopped => "stopped",
            SessionState::Errored => "errored",
            SessionState::Removed => "removed",
        })
    }
}

/// Why a session is no longer running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopCause {
    /// `sessions.stop`: deliberate, and it stays stopped across restarts.
    Requested,
    /// The process was gone when the daemon started.
    GoneAtBoot,
    /// An adopted process exited; its exit code could not be collected.
    ExitedWhileDetached,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SessionRecord {
    pub session_id: String,
    pub name: String,
    pub state: SessionState,
    pub runtime: Runtime,
    pub task: String,
    pub argv: Vec<String>,
    pub pid: Option<u32>,
    pub cwd: String,
    pub workspace: String,
    pub workspace_owned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<RepoSpec>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_cause: Option<StopCause>,
    /// The error that left the session `errored` (e.g. git's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True once the daemon restarted while the process lived on: its stdin is gone.
    #[serde(default)]
    pub stdin_detached: bool,
    /// True when the process runs confined: the daemon's data directory is hidden from
    /// it but for its own workspace (`sessions.confine`).
    #[serde(default)]
    pub confined: bool,
    /// Runs the session's harness started (filled in by `sessions.get`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunSummary>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "SessionsListParams")]
pub struct ListParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SessionState>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionRef {
    pub session_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendParams {
    pub session_id: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendResult {
    pub bytes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutputParams {
    pub session_id: String,
    /// The last N lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_lines: Option<usize>,
    /// Everything from this byte offset (a previous `next_offset`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_offset: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutputResult {
    pub text: String,
    pub next_offset: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StopParams {
    pub session_id: String,
    /// How long after SIGTERM to send SIGKILL (default 5000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RemoveParams {
    pub session_id: String,
    #[serde(default)]
    pub delete_workspace: bool,
}

crate::method!(Spawn, "sessions.spawn", SpawnParams => SessionRecord, "Start a supervised agent process (operator only).");
crate::method!(List, "sessions.list", ListParams => Vec<SessionRecord>, "List sessions, optionally by state.");
crate::method!(Get, "sessions.get", SessionRef => SessionRecord, "One session, with the runs its harness started.");
crate::method!(Send, "sessions.send", SendParams => SendResult, "Write a line to a session's stdin.");
crate::method!(Output, "sessions.output", OutputParams => OutputResult, "Read a session's output log.");
crate::method!(Follow, "sessions.follow", FollowParams => FollowResult, "Stream a session's output as sessions.output.event until it stops (sessions.output.end).");
crate::method!(Unfollow, "sessions.unfollow", SessionRef => UnfollowResult, "Stop streaming a session's output.");

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FollowParams {
    pub session_id: String,
    /// Stream from this byte offset of the log (default: its current end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_offset: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FollowResult {
    pub session_id: String,
    /// The offset the first `sessions.output.event` starts at.
    pub offset: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UnfollowResult {
    pub ok: bool,
}

/// Notification `sessions.output.event`: consecutive offsets.
pub const OUTPUT_EVENT: &str = "sessions.output.event";
/// Notification `sessions.output.end`: after the last output of a session that stopped running.
pub const OUTPUT_END: &str = "sessions.output.end";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutputEvent {
    pub session_id: String,
    /// The byte offset of `text` in the session's log.
    pub offset: u64,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OutputEnd {
    pub session_id: String,
    pub state: SessionState,
}

crate::notification!(OutputEventMessage, OUTPUT_EVENT, OutputEvent, "New output of a followed session.");
crate::notification!(
    OutputEndMessage,
    OUTPUT_END,
    OutputEnd,
    "A followed session stopped running and all its output was sent."
);

crate::method!(Stop, "sessions.stop", StopParams => SessionRecord, "SIGTERM the process group, SIGKILL after the grace; a deliberate stop.");
crate::method!(Resume, "sessions.resume", SessionRef => SessionRecord, "Respawn a session in its workspace with its task.");
crate::method!(Remove, "sessions.remove", RemoveParams => SessionRecord, "Forget a session; deletes its workspace only if the daemon owns it.");
