//! Sessions across a daemon kill -9, and the claude-code runtime, with the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

/// Kills the process groups it was given, even if the test fails.
struct Reaper(Vec<u64>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
        }
    }
}

/// A session's token, as its process saw it in `TETHER_TOKEN` (the stand-in writes
/// it to `token` in its working directory). The daemon keeps only its hash.
fn session_token(daemon: &Daemon, id: &str, cwd: &std::path::Path) -> String {
    let token = std::fs::read_to_string(cwd.join("token")).unwrap();
    let secret = token.strip_prefix(&format!("tss_{id}_")).expect("a session token").to_owned();
    let stored = std::fs::read_to_string(daemon.data_dir.join(format!("sessions/{id}/session.json"))).unwrap();
    assert!(!stored.contains(&secret), "the session store holds no secret in plain text");
    token
}

async fn operator(daemon: &Daemon) -> Client {
    Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap()
}

async fn record(client: &Client, id: &str) -> Value {
    client.call_raw("sessions.get", json!({"session_id": id})).await.unwrap()
}

#[tokio::test]
async fn after_kill_9_live_children_are_adopted_dead_ones_stopped_and_deliberate_stops_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let client = operator(&daemon).await;
    // A ticker that outlives the daemon (bounded, in case everything else fails).
    let ticker = json!(["sh", "-c", "for i in $(seq 1 600); do echo tick $i; sleep 0.1; done"]);
    let spawn = |name: &str| json!({"task": name, "command": ticker, "cwd": cwd.path(), "name": name});
    let survivor = client.call_raw("sessions.spawn", spawn("survivor")).await.unwrap();
    let casualty = client.call_raw("sessions.spawn", spawn("casualty")).await.unwrap();
    let halted = client.call_raw("sessions.spawn", spawn("halted")).await.unwrap();
    let pid = |r: &Value| r["pid"].as_u64().unwrap();
    let _reaper = Reaper(vec![pid(&survivor), pid(&casualty), pid(&halted)]);
    let id = |r: &Value| r["session_id"].as_str().unwrap().to_owned();
    let (survivor_id, casualty_id, halted_id) = (id(&survivor), id(&casualty), id(&halted));
    let stopped = client.call_raw("sessions.stop", json!({"session_id": halted_id})).await.unwrap();
    assert_eq!(stopped["state"], "stopped");

    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    // While the daemon is down, one child dies.
    assert!(Command::new("kill").args(["-KILL", "--", &format!("-{}", pid(&casualty))]).status().unwrap().success());

    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = operator(&daemon).await;
    let adopted = record(&client, &survivor_id).await;
    assert_eq!(adopted["state"], "active", "{adopted}");
    assert_eq!(adopted["pid"], survivor["pid"]);
    assert_eq!(adopted["stdin_detached"], true);
    let send = client.call_raw("sessions.send", json!({"session_id": survivor_id, "text": "hi"})).await.unwrap_err();
    assert!(send.to_string().contains("detached"), "{send}");
    let gone = record(&client, &casualty_id).await;
    assert_eq!(
        (gone["state"].clone(), gone["stop_cause"].clone()),
        (json!("stopped"), json!("gone_at_boot")),
        "{gone}"
    );
    let kept = record(&client, &halted_id).await;
    assert_eq!((kept["state"].clone(), kept["stop_cause"].clone()), (json!("stopped"), json!("requested")), "{kept}");

    // Output keeps flowing into the log from the adopted child.
    let before = client.call_raw("sessions.output", json!({"session_id": survivor_id})).await.unwrap()["next_offset"]
        .as_u64()
        .unwrap();
    wait_until("the adopted child writes more output", async || {
        let now = client.call_raw("sessions.output", json!({"session_id": survivor_id})).await.unwrap();
        now["next_offset"].as_u64().unwrap() > before
    })
    .await;

    // Its exit is noticed without anyone polling for it.
    assert!(Command::new("kill").args(["-KILL", "--", &format!("-{}", pid(&survivor))]).status().unwrap().success());
    wait_until("the adopted child's exit is recorded", async || {
        record(&client, &survivor_id).await["state"] == "exited"
    })
    .await;
    assert_eq!(record(&client, &survivor_id).await["stop_cause"], "exited_while_detached");
}

#[tokio::test]
async fn a_stop_of_an_adopted_child_is_deliberate() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let client = operator(&daemon).await;
    let ticker = json!(["sh", "-c", "for i in $(seq 1 600); do sleep 0.1; done"]);
    let spawned =
        client.call_raw("sessions.spawn", json!({"task": "t", "command": ticker, "cwd": cwd.path()})).await.unwrap();
    let _reaper = Reaper(vec![spawned["pid"].as_u64().unwrap()]);
    let id = spawned["session_id"].as_str().unwrap();
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();

    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = operator(&daemon).await;
    let stopped = client.call_raw("sessions.stop", json!({"session_id": id, "grace_ms": 2000})).await.unwrap();
    assert_eq!(
        (stopped["state"].clone(), stopped["stop_cause"].clone()),
        (json!("stopped"), json!("requested")),
        "{stopped}"
    );
    drop(daemon);
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = operator(&daemon).await;
    assert_eq!(record(&client, id).await["state"], "stopped", "a deliberate stop stays stopped");
}

#[tokio::test]
async fn the_claude_code_runtime_runs_the_configured_program_from_path() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let stand_in = bin.join("claude");
    let script = "#!/bin/sh\nprintf %s \"$TETHER_TOKEN\" > token\necho \"claude stand-in: $*\"\necho \"session $TETHER_SESSION_ID\"\n";
    std::fs::write(&stand_in, script).unwrap();
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let daemon = Daemon::spawn_env(dir.path(), &[], &[("PATH", &path)]);
    let client = operator(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    let spawned = client
        .call_raw("sessions.spawn", json!({"task": "fix the flaky test", "runtime": "claude-code", "cwd": cwd.path()}))
        .await
        .unwrap();
    let id = spawned["session_id"].as_str().unwrap().to_owned();
    assert_eq!(spawned["runtime"], "claude-code");
    let argv: Vec<String> = serde_json::from_value(spawned["argv"].clone()).unwrap();
    assert_eq!(argv[..6], ["claude", "-p", "fix the flaky test", "--output-format", "stream-json", "--settings"]);
    // The settings point Claude Code's hooks back at this daemon: PreToolUse (which `-p`
    // runs, unlike PermissionRequest) waits for approvals, with a timeout that outlasts the wait.
    let settings: Value = serde_json::from_str(&argv[6]).unwrap();
    let entry = &settings["hooks"]["PreToolUse"][0]["hooks"][0];
    assert_eq!(entry["timeout"], 330);
    let pre = entry["command"].as_str().unwrap().to_owned();
    assert!(pre.ends_with(" hook"), "{pre}");
    assert!(std::path::Path::new(pre.trim_end_matches(" hook")).exists(), "the daemon's own executable: {pre}");
    // And its MCP server is `tether mcp`, handed the session's own URL and token through
    // Claude Code's `${VAR}` expansion (never on a command line).
    assert_eq!(argv[7], "--mcp-config");
    let mcp: Value = serde_json::from_str(&argv[8]).unwrap();
    let server = &mcp["mcpServers"]["tether"];
    assert_eq!(server["command"], pre.trim_end_matches(" hook"));
    assert_eq!(server["args"], json!(["mcp"]));
    assert_eq!(server["env"], json!({"TETHER_URL": "${TETHER_URL}", "TETHER_TOKEN": "${TETHER_TOKEN}"}));
    wait_until("the stand-in exits", async || record(&client, &id).await["state"] == "exited").await;
    let out = client.call_raw("sessions.output", json!({"session_id": id})).await.unwrap();
    let text = out["text"].as_str().unwrap();
    assert!(
        text.starts_with("claude stand-in: -p fix the flaky test --output-format stream-json --settings {"),
        "{text}"
    );
    assert!(text.ends_with(&format!("session {id}\n")), "{text}");

    // What such a hook does inside the session: `tether hook` with the session's own
    // URL and token (from its environment) reaches this daemon as that session.
    let payload = fixture("PreToolUse-allowed").to_string();
    let mut hook = std::process::Command::new(pre.trim_end_matches(" hook"))
        .args(["hook"])
        .env("TETHER_URL", &daemon.url)
        .env("TETHER_TOKEN", session_token(&daemon, &id, cwd.path()))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut hook.stdin.take().unwrap(), payload.as_bytes()).unwrap();
    let output = hook.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let recent = client.call_raw("events.recent", json!({"families": ["hooks.event"], "limit": 1})).await.unwrap();
    assert_eq!(recent[0]["agent_id"], format!("session:{id}"), "the hook arrived as the session");
}
