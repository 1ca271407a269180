//! Deny never fails open: a permission hook the daemon cannot take whole (too large,
//! too deep) is judged on its bounded form, `POST /hooks` answers it 200 with a
//! decision, and `tether hook` blocks (exit 2) when nothing can judge it.
//! Against the real binary, over real sockets.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::{Value, json};

const POLICY: &str = r#"
[[rules]]
name = "no-mcp"
event = "PreToolUse"
tool = "mcp__*"
decision = "deny"
reason = "no MCP tools here"

[[rules]]
name = "no-recursive-delete"
event = "PreToolUse"
tool = "Bash"
input = { command = "rm\\s+-rf" }
decision = "deny"
reason = "recursive deletes need a human"

[[rules]]
name = "no-mcp-dialogs"
event = "PermissionRequest"
tool = "mcp__*"
decision = "deny"
"#;

fn daemon(dir: &Path) -> Daemon {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let config = dir.join("tether.toml");
    std::fs::write(&config, "[hooks]\npolicy_file = \"policy.toml\"\n").unwrap();
    Daemon::spawn(dir, &["--config", config.to_str().unwrap()])
}

/// A hook whose `tool_input` holds `bytes` of text.
fn huge(event: &str, tool: &str, bytes: usize) -> String {
    json!({"hook_event_name": event, "session_id": "s-big", "tool_name": tool,
           "tool_input": {"command": "x".repeat(bytes)}})
    .to_string()
}

/// A hook whose `tool_input` makes the payload nest `levels` deep.
fn deep(event: &str, tool: &str, levels: usize) -> String {
    let inner = levels - 2; // the payload object and `tool_input` itself
    format!(
        r#"{{"tool_input": {{"a": {}1{}}}, "hook_event_name": "{event}", "session_id": "s-deep", "tool_name": "{tool}"}}"#,
        "[".repeat(inner),
        "]".repeat(inner)
    )
}

fn hook(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("hook")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_owned();
    // Written from another thread: a hook that answers before reading it all must not deadlock the test.
    let writer = std::thread::spawn(move || drop(pipe.write_all(input.as_bytes())));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn decision(output: &Value) -> &Value {
    &output["hookSpecificOutput"]["permissionDecision"]
}

#[tokio::test]
async fn post_hooks_judges_payloads_too_large_or_too_deep_on_their_bounded_form() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let token = daemon.token();
    let post = async |body: &str| http_post(daemon.addr, "/hooks", Some(&token), body).await;

    // 9 MiB, over limits.max_message_bytes (8 MiB): a name rule still decides.
    let (status, output) = post(&huge("PreToolUse", "mcp__fs__write", 9 << 20)).await;
    assert_eq!(status, 200, "{output}");
    assert_eq!(decision(&output), "deny");
    assert_eq!(output["hookSpecificOutput"]["permissionDecisionReason"], "no MCP tools here");

    // A rule on the input cannot be evaluated: deny, saying why (hooks.unjudged_decision).
    let (status, output) = post(&huge("PreToolUse", "Bash", 9 << 20)).await;
    assert_eq!(status, 200);
    assert_eq!(decision(&output), "deny");
    let reason = output["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap();
    assert!(reason.contains("no-recursive-delete") && reason.contains("hooks.unjudged_decision"), "{reason}");

    // No rule could have matched: nothing decided, as for any hook.
    assert_eq!(post(&huge("PreToolUse", "Read", 9 << 20)).await, (200, json!({})));

    // 129 levels deep, past what the parser takes.
    let (status, output) = post(&deep("PreToolUse", "mcp__x__y", 129)).await;
    assert_eq!((status, decision(&output).clone()), (200, json!("deny")), "{output}");
    let (status, output) = post(&deep("PermissionRequest", "mcp__x__y", 129)).await;
    assert_eq!(status, 200);
    assert_eq!(output["hookSpecificOutput"]["decision"]["behavior"], "deny");

    // A permission hook with a malformed field is judged on its names too.
    let malformed = json!({"hook_event_name": "PreToolUse", "tool_name": "mcp__a", "wait_ms": "soon"});
    let (status, output) = post(&malformed.to_string()).await;
    assert_eq!((status, decision(&output).clone()), (200, json!("deny")), "{output}");

    // What is not a hook at all is still refused.
    assert_eq!(post("[1]").await.0, 400);
    assert_eq!(post(&format!("[\"{}\"]", "x".repeat(9 << 20))).await.0, 413);

    // The audit says what was cut and why.
    let audit = std::fs::read_to_string(daemon.data_dir.join("audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 6, "{audit}");
}

#[test]
fn tether_hook_blocks_what_it_cannot_send_whole_unless_a_name_rule_allows_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());

    let mcp = hook(&daemon.data_dir, &[], &deep("PreToolUse", "mcp__fs__write", 129));
    assert_eq!(mcp.status.code(), Some(2), "{}", String::from_utf8_lossy(&mcp.stderr));
    assert_eq!(String::from_utf8_lossy(&mcp.stderr).trim(), "no MCP tools here");

    let bash = hook(&daemon.data_dir, &[], &deep("PreToolUse", "Bash", 129));
    assert_eq!(bash.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bash.stderr).contains("no-recursive-delete"));

    // Larger than --max-bytes: the bounded form too.
    let large = hook(&daemon.data_dir, &["--max-bytes", "65536"], &huge("PreToolUse", "mcp__a", 1 << 20));
    assert_eq!(large.status.code(), Some(2));
    // And larger than the daemon takes (8 MiB): refused whole, judged bounded.
    let larger = hook(&daemon.data_dir, &["--max-bytes", "16777216"], &huge("PreToolUse", "mcp__a", 9 << 20));
    assert_eq!(larger.status.code(), Some(2), "{}", String::from_utf8_lossy(&larger.stderr));
    assert_eq!(decision(&serde_json::from_slice(&larger.stdout).unwrap()), "deny");

    // A deep PostToolUse decides nothing and goes on.
    let post = hook(&daemon.data_dir, &[], &deep("PostToolUse", "mcp__fs__write", 129));
    assert_eq!(post.status.code(), Some(0));
}

#[test]
fn an_unreachable_daemon_blocks_permissions_and_lets_other_events_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("no-daemon");
    let event = |name: &str| json!({"hook_event_name": name, "tool_name": "Read", "tool_input": {}}).to_string();
    let quick = ["--timeout-ms", "2000"];
    let code = |args: &[&str], stdin: &str| hook(&nowhere, &[&quick[..], args].concat(), stdin).status.code();

    assert_eq!(code(&[], &event("PreToolUse")), Some(2));
    assert_eq!(code(&[], &event("PermissionRequest")), Some(2));
    assert_eq!(code(&[], &event("PostToolUse")), Some(0));
    assert_eq!(code(&["--fail-open"], &event("PreToolUse")), Some(0), "the operator's choice");
    assert_eq!(code(&["--fail-closed"], &event("PostToolUse")), Some(2), "kept for old settings files");
    // Not a hook at all: no permission to protect.
    assert_eq!(code(&[], "nope"), Some(0));
}
