//! `tether hook`, approvals across restarts, and SIGHUP reloads, with the real binary.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

fn policy_config(dir: &std::path::Path, policy: &std::path::Path, ttl_ms: u64) -> std::path::PathBuf {
    let config = dir.join(format!("tether-{ttl_ms}.toml"));
    std::fs::write(
        &config,
        format!("[hooks]\npolicy_file = {:?}\napproval_ttl_ms = {ttl_ms}\n", policy.to_str().unwrap()),
    )
    .unwrap();
    config
}

/// Runs `tether hook ARGS` with `stdin` as the hook JSON.
fn hook(data_dir: &std::path::Path, args: &[&str], stdin: &Value) -> Output {
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
    child.stdin.take().unwrap().write_all(stdin.to_string().as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn the_hook_command_prints_hook_output_and_exits_as_claude_code_expects() {
    let dir = tempfile::tempdir().unwrap();
    let config = policy_config(dir.path(), &policy_fixture(), 600_000);
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);

    // Allowed: exit 0, hook_output on stdout (over the Unix socket in the data directory).
    let allowed = hook(&daemon.data_dir, &[], &fixture("PreToolUse-allowed"));
    assert_eq!(allowed.status.code(), Some(0), "{}", String::from_utf8_lossy(&allowed.stderr));
    let output: Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(output["hookSpecificOutput"]["permissionDecision"], "allow");

    // No rule decides: `{}` and exit 0, so Claude Code asks its user as it would without tether.
    let mut unmatched = fixture("PreToolUse-allowed");
    unmatched["tool_name"] = "Glob".into();
    let undecided = hook(&daemon.data_dir, &[], &unmatched);
    assert_eq!(undecided.status.code(), Some(0), "{}", String::from_utf8_lossy(&undecided.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&undecided.stdout).unwrap(), serde_json::json!({}));

    // A PreToolUse deny: exit 2 with the reason on stderr, which Claude Code shows the model.
    let denied = hook(&daemon.data_dir, &[], &fixture("PreToolUse"));
    assert_eq!(denied.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&denied.stderr).trim(), "recursive deletes need a human");
    let output: Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(output["hookSpecificOutput"]["permissionDecision"], "deny");

    // Other events that block still exit 0: their JSON says so.
    let stop = hook(&daemon.data_dir, &[], &fixture("Stop"));
    assert_eq!(stop.status.code(), Some(0));
    assert_eq!(serde_json::from_slice::<Value>(&stop.stdout).unwrap()["decision"], "block");

    // Over TCP too.
    let tcp = hook(&daemon.data_dir, &["--url", &daemon.url], &fixture("PreToolUse"));
    assert_eq!(tcp.status.code(), Some(2));

    // The daemon down: a permission blocks unless --fail-open lets the tool run.
    drop(daemon);
    let closed =
        hook(&dir.path().join("data"), &["--fail-closed", "--timeout-ms", "2000"], &fixture("PreToolUse-allowed"));
    assert_eq!(closed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&closed.stderr).contains("tether hook"));
    let blocked = hook(&dir.path().join("data"), &["--timeout-ms", "2000"], &fixture("PreToolUse-allowed"));
    assert_eq!(blocked.status.code(), Some(2), "a permission fails closed by default");
    let open = hook(&dir.path().join("data"), &["--fail-open", "--timeout-ms", "2000"], &fixture("PreToolUse-allowed"));
    assert_eq!(open.status.code(), Some(0));
    assert!(open.stdout.is_empty());
    let garbage = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["hook", "--fail-closed"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(garbage.status.code(), Some(2), "unreadable input fails closed too");
}

async fn operator(daemon: &Daemon) -> Client {
    Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap()
}

fn web_fetch(session: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": session, "tool_name": "WebFetch", "tool_input": {"url": "https://example.com"}})
}

#[tokio::test]
async fn pending_approvals_survive_a_restart_and_expired_ones_read_expired() {
    let dir = tempfile::tempdir().unwrap();
    let long = policy_config(dir.path(), &policy_fixture(), 600_000);
    let short = policy_config(dir.path(), &policy_fixture(), 300);

    let mut daemon = Daemon::spawn(dir.path(), &["--config", long.to_str().unwrap()]);
    let pending = operator(&daemon).await.call_raw("hooks.ingest", web_fetch("keep")).await.unwrap();
    assert_eq!(pending["decision"], "ask");
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();

    let mut daemon = Daemon::spawn(dir.path(), &["--config", short.to_str().unwrap()]);
    let client = operator(&daemon).await;
    let doomed = client.call_raw("hooks.ingest", web_fetch("lapse")).await.unwrap();
    let listed = client.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    let expires_at =
        listed.as_array().unwrap().iter().find(|a| a["approval_id"] == doomed["approval_id"]).unwrap()["expires_at"]
            .clone();
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    // Down until the short-lived approval's expiry has passed.
    let expiry =
        time::OffsetDateTime::parse(expires_at.as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .unwrap();
    while time::OffsetDateTime::now_utc() <= expiry {
        std::thread::sleep(Duration::from_millis(20));
    }

    let daemon = Daemon::spawn(dir.path(), &["--config", long.to_str().unwrap()]);
    let client = operator(&daemon).await;
    let all = client.call_raw("approvals.list", json!({})).await.unwrap();
    let state = |id: &Value| all.as_array().unwrap().iter().find(|a| a["approval_id"] == *id).unwrap()["state"].clone();
    assert_eq!(state(&pending["approval_id"]), "pending");
    assert_eq!(state(&doomed["approval_id"]), "expired");
    let resolved = client
        .call_raw("approvals.resolve", json!({"approval_id": pending["approval_id"], "decision": "deny"}))
        .await
        .unwrap();
    assert_eq!(resolved["state"], "denied");
}

#[tokio::test]
async fn sighup_reloads_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "").unwrap();
    let config = policy_config(dir.path(), &policy, 600_000);
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let client = operator(&daemon).await;
    assert_eq!(client.call_raw("hooks.ingest", fixture("PreToolUse")).await.unwrap()["decision"], "none");
    std::fs::copy(policy_fixture(), &policy).unwrap();
    daemon.signal("HUP");
    wait_until("SIGHUP reloads the policy", async || {
        !client.call_raw("policy.get", json!({})).await.unwrap()["rules"].as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(client.call_raw("hooks.ingest", fixture("PreToolUse")).await.unwrap()["decision"], "deny");
}
