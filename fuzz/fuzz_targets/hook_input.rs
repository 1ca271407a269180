//! Hook input normalisation and deciding: arbitrary JSON through `Hooks::ingest`,
//! as the operator and as an agent, against a policy with globs, regexes and a
//! rate limit.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
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
        let scratch = if std::path::Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        let dir = tempfile::tempdir_in(scratch).unwrap();
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, POLICY).unwrap();
        let config = HooksConfig {
            policy_file: Some(policy),
            large_output_bytes: 256,
            max_wait_ms: 0,
            max_pending_approvals: 4,
            approval_retention_ms: 0,
            ..HooksConfig::default()
        };
        let events = tether_events::EventBus::new(Default::default());
        let hooks = Hooks::open(dir.path(), config, events, Arc::new(SystemClock)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        World { runtime, hooks, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&who, json)) = data.split_first() else { return };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let Ok(params) = serde_json::from_value(value) else { return };
    let principal = if who % 2 == 0 { Principal::Operator } else { Principal::Agent(AgentId::for_session("fuzz")) };
    let world = world();
    let _ = world.runtime.block_on(world.hooks.ingest(&principal, params));
});
