//! Hook input normalisation and deciding: arbitrary JSON through `Hooks::ingest`,
//! as the operator and as an agent, against a policy with globs, regexes and a
//! rate limit; and policy files as text.

use std::sync::{Arc, OnceLock};

use tether_core::{AgentId, Principal};
use tether_hooks::{Hooks, HooksConfig, SystemClock};

const POLICY: &str = r#"
[rate_limit]
tool_calls = 1000
window_s = 1

[[rules]]
name = "no-rm"
event = "Pre*"
tool = "Bash"
input = { command = "rm\\s+-rf", "nested.path" = "^/etc" }
decision = "deny"

[[rules]]
tool = "mcp__*"
decision = "deny"

[[rules]]
tool = "Web*"
decision = "ask"

[[rules]]
event = "Stop"
decision = "deny"
reason = "keep going"
"#;

struct World {
    runtime: tokio::runtime::Runtime,
    hooks: Arc<Hooks>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir_in(crate::scratch()).unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, POLICY).unwrap();
        let config = HooksConfig {
            policy_file: Some(policy),
            large_output_bytes: 256,
            max_wait_ms: 0,
            max_pending_approvals: 4,
            approval_retention_ms: 0,
            audit_max_bytes: 1 << 20,
            audit_keep: 1,
            audit_reserve_bytes: 0,
            ..HooksConfig::default()
        };
        let events = tether_events::EventBus::new(Default::default());
        let hooks = Hooks::open(dir.path(), config, events, Arc::new(SystemClock), None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        World { runtime, hooks, _dir: dir }
    })
}

/// The first byte picks the principal (operator or agent); the rest is the JSON params.
pub fn hook_input(data: &[u8]) {
    let Some((&who, json)) = data.split_first() else { return };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let Ok(params) = serde_json::from_value(value) else { return };
    let principal = if who % 2 == 0 { Principal::Operator } else { Principal::Agent(AgentId::for_session("fuzz")) };
    let world = world();
    let _ = world.runtime.block_on(world.hooks.ingest(&principal, params));
}

/// Any text either parses as a policy or is refused with a message.
pub fn policy(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tether_hooks::check_policy(text);
    }
}
