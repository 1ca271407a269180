//! `tether init`: the data directory, a commented `config.toml` that `tether serve` reads
//! when no `--config` is given, a starter `policy.toml`, and with `--claude DIR` the hook
//! wiring and MCP server merged into a Claude Code project. Idempotent: what exists is
//! kept (a settings file gains only what it lacks), and a second run changes nothing.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value};

use crate::cli::InitArgs;

const POLICY: &str = r#"# The rules Claude Code's hooks are judged by: the first rule that matches decides
# (allow, deny, ask, or none). Reference: README, "The policy". Check a change with
# `tether policy check FILE`; `tether policy reload` (or SIGHUP) applies it.

[[rules]]
name = "no-recursive-delete"
event = "PreToolUse"
tool = "Bash"
input = { command = "\\brm\\s+(-[a-zA-Z]*r[a-zA-Z]*f|-[a-zA-Z]*f[a-zA-Z]*r|-r\\s+-f|-f\\s+-r)\\b" }
decision = "deny"
reason = "recursive deletes need a human"

[[rules]]
name = "no-force-push"
event = "PreToolUse"
tool = "Bash"
input = { command = "\\bgit\\s+push\\b.*\\s(--force|--force-with-lease|-f)\\b" }
decision = "deny"
reason = "force pushes rewrite shared history"

[[rules]]
name = "ask-before-fetching"
event = "PreToolUse"
tool = "Web*"
decision = "ask"
reason = "network access needs an operator's approval"

# Everything else: no decision (Claude Code's own permissions apply).
"#;

fn config(policy: &Path) -> String {
    format!(
        r#"# tether's configuration: `tether serve` reads this file when no --config is given.
# Every key is optional; a commented value is the default. Reference: README, Configuration.

# listen = "127.0.0.1:9100"     # TCP address: WebSocket, /hooks, /mcp, /metrics, the console
# allow_remote = false          # listen beyond loopback (put a TLS-terminating proxy in front)
# log_format = "text"           # or "json"

[hooks]
policy_file = {policy:?}
# max_wait_ms = 300000          # how long a hook may wait for an operator's approval
# default_decision = "none"     # what a permission no rule decides gets
# notify_url = "http://127.0.0.1:8080/tether"   # POST each pending approval there

[sessions]
# confine = "auto"              # hide the data directory from sessions ("required", "off")
# max_active = 16               # sessions running at once

[mcp]
# allow_spawn = false           # offer session_spawn to agents over MCP
# approval_round_ms = 20000     # approval_request: one round's wait before input_required
"#
    )
}

pub fn run(args: InitArgs) -> ExitCode {
    match init(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether init: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init(args: &InitArgs) -> Result<(), String> {
    let dir =
        args.data_dir.clone().or_else(crate::config::default_data_dir).ok_or("no data directory: pass --data-dir")?;
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        println!("created {}", dir.display());
    }
    let dir = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
    let policy = dir.join("policy.toml");
    tether_hooks::check_policy(POLICY).map_err(|e| format!("the starter policy does not parse: {e}"))?;
    write_new(&policy, POLICY)?;
    write_new(&dir.join("config.toml"), &config(&policy))?;
    if let Some(project) = &args.claude {
        let tether = "tether";
        merge(&project.join(".claude/settings.json"), &tether_sessions::hook_settings(tether))?;
        merge(&project.join(".mcp.json"), &tether_sessions::mcp_config(tether))?;
        if args.data_dir.is_some() && crate::config::default_data_dir().as_deref() != Some(&dir) {
            println!("note: the hooks and MCP server find this data directory only with TETHER_HOME={}", dir.display());
        }
    }
    println!("next: tether serve");
    Ok(())
}

/// Writes `path` (0600) unless it exists.
fn write_new(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
    match file {
        Ok(mut file) => {
            file.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
            println!("created {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            println!("kept {} (it exists)", path.display());
            Ok(())
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Merges `ours` (a JSON object) into the JSON file at `path`: every key already there is
/// kept; a hook event or MCP server it lacks is added. Says what changed.
fn merge(path: &Path, ours: &str) -> Result<(), String> {
    let ours: Value = serde_json::from_str(ours).map_err(|e| e.to_string())?;
    let mut theirs: Value = match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).map_err(|e| format!("{}: not JSON ({e}); left as is", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Object(Map::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let Some(object) = theirs.as_object_mut() else {
        return Err(format!("{}: not a JSON object; left as is", path.display()));
    };
    let mut added = Vec::new();
    for (section, entries) in ours.as_object().into_iter().flatten() {
        let have = object.entry(section.clone()).or_insert_with(|| Value::Object(Map::new()));
        let Some(have) = have.as_object_mut() else {
            return Err(format!("{}: {section:?} is not an object; left as is", path.display()));
        };
        for (name, entry) in entries.as_object().into_iter().flatten() {
            if section == "hooks" {
                // An event keeps its own groups; ours joins them unless a `tether hook` is there.
                let groups = have.entry(name.clone()).or_insert_with(|| Value::Array(Vec::new()));
                let Some(groups) = groups.as_array_mut() else { continue };
                if !groups.iter().any(|group| group.to_string().contains("tether hook")) {
                    groups.extend(entry.as_array().cloned().unwrap_or_default());
                    added.push(format!("{section}.{name}"));
                }
            } else if !have.contains_key(name) {
                have.insert(name.clone(), entry.clone());
                added.push(format!("{section}.{name}"));
            }
        }
    }
    if added.is_empty() {
        println!("unchanged {}", path.display());
        return Ok(());
    }
    let parent = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let text = serde_json::to_string_pretty(&theirs).map_err(|e| e.to_string())? + "\n";
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("updated {}: added {}", path.display(), added.join(", "));
    Ok(())
}
