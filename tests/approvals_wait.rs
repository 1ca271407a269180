//! Approvals that hold: the README's hook wiring, exactly as documented, waits for
//! the operator's answer; `approvals ls` says who waits and which rule asked; an
//! approval nobody waits on is settled `abandoned`. The real binary, real sockets.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The first ```json block after `marker`, parsed.
fn settings(marker: &str) -> Value {
    let text = readme();
    let at = text.find(marker).unwrap_or_else(|| panic!("README has no {marker:?}"));
    let start = at + text[at..].find("```json\n").unwrap() + "```json\n".len();
    let end = start + text[start..].find("```").unwrap();
    serde_json::from_str(&text[start..end]).unwrap()
}

/// `PATH` with the built `tether` first, as `cargo install` would put it.
fn path_with_tether() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_tether")).parent().unwrap().to_owned();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn daemon(dir: &Path, extra: &str) -> Daemon {
    let config = dir.join("tether.toml");
    let policy = policy_fixture();
    std::fs::write(&config, format!("[hooks]\npolicy_file = {:?}\n{extra}", policy.to_str().unwrap())).unwrap();
    Daemon::spawn(dir, &["--config", config.to_str().unwrap()])
}

fn web_fetch(session: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": session, "tool_name": "WebFetch",
           "tool_input": {"url": "https://example.com/wait"}})
}

fn tether(daemon: &Daemon, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("TETHER_HOME", &daemon.data_dir)
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Polls `tether approvals ls --all --json` until `session`'s approval satisfies `done`.
fn approval_in_ls(daemon: &Daemon, session: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let output = tether(daemon, &["approvals", "ls", "--all", "--json"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let found = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|a| a["session_id"] == session);
        if let Some(approval) = found.filter(&done) {
            return approval;
        }
        assert!(Instant::now() < deadline, "no approval for {session} as expected in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_documented_command_hook_waits_for_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "");
    let wiring = settings("**Command hooks**");
    let entry = &wiring["hooks"]["PreToolUse"][0]["hooks"][0];
    let command = entry["command"].as_str().unwrap();
    // Claude Code's timeout (seconds) outlasts the hook's own wait (300 s) and its 10 s of patience.
    assert!(entry["timeout"].as_u64().unwrap() >= 310, "{entry}");

    let mut hook = Command::new("sh")
        .args(["-c", command])
        .env("TETHER_HOME", &daemon.data_dir)
        .env("PATH", path_with_tether())
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    hook.stdin.take().unwrap().write_all(web_fetch("s-command").to_string().as_bytes()).unwrap();

    let approval = approval_in_ls(&daemon, "s-command", |a| a["waiting"] == true);
    assert_eq!(approval["state"], "pending");
    assert_eq!(approval["rule"], "ask-before-fetching");
    assert_eq!(approval["tool"], "WebFetch");
    assert!(hook.try_wait().unwrap().is_none(), "the hook is still waiting");
    // The table shows the waiting, the rule and a short form of the input.
    let table = String::from_utf8_lossy(&tether(&daemon, &["approvals", "ls"]).stdout).into_owned();
    let row = table.lines().find(|l| l.contains(approval["approval_id"].as_str().unwrap())).unwrap();
    assert!(row.contains("yes") && row.contains("ask-before-fetching") && row.contains("example.com/wait"), "{row}");

    let approve = tether(&daemon, &["approvals", "approve", approval["approval_id"].as_str().unwrap()]);
    assert!(approve.status.success(), "{}", String::from_utf8_lossy(&approve.stderr));
    let output = hook.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "allow");
}

#[tokio::test]
async fn the_documented_http_hook_waits_for_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "");
    let wiring = settings("**HTTP hooks**");
    let entry = wiring["hooks"]["PreToolUse"][0]["hooks"][0].clone();
    assert!(entry["timeout"].as_u64().unwrap() >= 300, "{entry}");
    let url = entry["url"].as_str().unwrap();
    let path = url.strip_prefix("http://127.0.0.1:9100").expect("the documented address").to_owned();
    assert!(path.starts_with("/hooks?wait_ms="), "{path}");

    let (addr, token) = (daemon.addr, daemon.token());
    let body = web_fetch("s-http").to_string();
    let posted = tokio::spawn(async move { http_post(addr, &path, Some(&token), &body).await });

    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let mut id = Value::Null;
    wait_until("the http hook waits on its approval", async || {
        let list = client.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        let found = list.as_array().unwrap().iter().find(|a| a["session_id"] == "s-http" && a["waiting"] == true);
        found.map(|a| id = a["approval_id"].clone()).is_some()
    })
    .await;
    assert!(!posted.is_finished());
    client.call_raw("approvals.resolve", json!({"approval_id": id, "decision": "allow"})).await.unwrap();
    let (status, output) = posted.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(output["hookSpecificOutput"]["permissionDecision"], "allow");
}

#[test]
fn an_approval_nobody_waits_on_reads_so_and_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "abandon_after_ms = 1000\n");
    let mut hook = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["hook", "--wait-ms", "0"])
        .env("TETHER_HOME", &daemon.data_dir)
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hook.stdin.take().unwrap().write_all(web_fetch("s-gone").to_string().as_bytes()).unwrap();
    let output = hook.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "ask", "answered at once");

    let listed = approval_in_ls(&daemon, "s-gone", |_| true);
    assert_eq!(listed["waiting"], false);
    assert_eq!(listed["rule"], "ask-before-fetching");
    let abandoned = approval_in_ls(&daemon, "s-gone", |a| a["state"] != "pending");
    assert_eq!(abandoned["state"], "abandoned");
    let late = tether(&daemon, &["approvals", "approve", abandoned["approval_id"].as_str().unwrap()]);
    assert!(!late.status.success(), "an abandoned approval takes no answer");
}

/// Accepts one POST on `listener`, answers `status`, and returns its body as JSON.
async fn receive(listener: &tokio::net::TcpListener, status: u16) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut stream, _) = tokio::time::timeout(PATIENCE, listener.accept()).await.expect("a POST in time").unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the request ended early");
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        assert!(head.starts_with("POST /notify HTTP/1.1"), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
            .unwrap();
        if body.len() >= length {
            break body.to_owned();
        }
    };
    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    stream.write_all(reply.as_bytes()).await.unwrap();
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn a_pending_approval_is_posted_to_the_webhook_and_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "notify_url = {url:?}\nnotify_console_url = \"http://tether.example/console/\"\nnotify_topic = \"approvals\"\nnotify_backoff_ms = 50\n"
    );
    let daemon = daemon(dir.path(), &extra);
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    // Answered at once (wait 0): the notification never holds the hook.
    let asked = client.call_raw("hooks.ingest", web_fetch("s-notify")).await.unwrap();
    assert_eq!(asked["decision"], "ask");

    let first = receive(&listener, 500).await;
    let again = receive(&listener, 200).await;
    assert_eq!(first, again, "retried after a 500");
    assert_eq!(again["approval"]["approval_id"], asked["approval_id"]);
    assert_eq!(again["approval"]["rule"], "ask-before-fetching");
    assert_eq!(again["console_url"], "http://tether.example/console/#/approvals");
    assert_eq!(again["click"], again["console_url"]);
    assert_eq!(again["topic"], "approvals");
    let text = again["text"].as_str().unwrap();
    assert!(text.contains("WebFetch") && text.contains("s-notify") && text.contains("example.com/wait"), "{text}");
}

#[test]
fn a_hook_that_goes_away_stops_waiting_and_its_approval_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "abandon_after_ms = 500\n");
    let mut hook = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("hook")
        .env("TETHER_HOME", &daemon.data_dir)
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    hook.stdin.take().unwrap().write_all(web_fetch("s-killed").to_string().as_bytes()).unwrap();
    approval_in_ls(&daemon, "s-killed", |a| a["waiting"] == true);
    // What Claude Code does at the hook's timeout.
    hook.kill().unwrap();
    hook.wait().unwrap();
    let gone = approval_in_ls(&daemon, "s-killed", |a| a["waiting"] == false);
    assert!(gone["state"] == "pending" || gone["state"] == "abandoned", "{gone}");
    approval_in_ls(&daemon, "s-killed", |a| a["state"] == "abandoned");
}

/// The http form: Claude Code closes the request at its hook timeout.
#[tokio::test]
async fn an_http_hook_whose_client_goes_away_stops_waiting_and_its_approval_is_abandoned() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "abandon_after_ms = 500\n");
    let (addr, token) = (daemon.addr, daemon.token());
    let body = web_fetch("s-http-gone").to_string();
    let posted = tokio::spawn(async move { http_post(addr, "/hooks?wait_ms=60000", Some(&token), &body).await });
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let listed = async |client: &Client| {
        let list = client.call_raw("approvals.list", json!({})).await.unwrap();
        list.as_array().unwrap().iter().find(|a| a["session_id"] == "s-http-gone").cloned()
    };
    wait_until("the http hook waits", async || listed(&client).await.is_some_and(|a| a["waiting"] == true)).await;
    posted.abort();
    let _ = posted.await;
    wait_until("its approval is abandoned", async || {
        listed(&client).await.is_some_and(|a| a["waiting"] == false && a["state"] == "abandoned")
    })
    .await;
}

#[tokio::test]
async fn an_abandoned_approval_is_announced_without_anyone_listing_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "abandon_after_ms = 300\n");
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let asked = client.call_raw("hooks.ingest", web_fetch("s-swept")).await.unwrap();
    wait_until("the abandonment is announced", async || {
        let params = json!({"families": ["runtime.approval_required"], "limit": 10});
        let recent = client.call_raw("events.recent", params).await.unwrap();
        recent
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["payload"]["approval_id"] == asked["approval_id"] && e["payload"]["state"] == "abandoned")
    })
    .await;
}

/// `approvals.wait`: an agent whose question's wait ended (`pending`) waits again and gets
/// the operator's answer; another agent cannot wait on it (nor learn that it exists).
#[tokio::test]
async fn an_agent_waits_again_on_its_own_question_and_no_other_agent_may() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path(), "");
    let agent = |name: &'static str| Client::builder(&daemon.url).token(daemon.token()).agent_id(name).connect();
    let alice = agent("alice").await.unwrap();
    let asked = alice.call_raw("approvals.request", json!({"question": "may I?", "wait_ms": 1})).await.unwrap();
    assert_eq!(asked["state"], "pending", "{asked}");
    let id = asked["approval_id"].clone();
    let bob = agent("bob").await.unwrap();
    let refused = bob.call_raw("approvals.wait", json!({"approval_id": id, "wait_ms": 1})).await.unwrap_err();
    assert!(refused.to_string().contains("no pending approval"), "{refused}");
    assert!(!refused.to_string().contains("alice"), "nothing of alice's question leaks: {refused}");
    // A hostile id (half a megabyte) is answered at once with a short refusal, whatever it asks to wait.
    let hostile = json!({"approval_id": "a".repeat(512 << 10), "wait_ms": 60_000});
    let refused = tokio::time::timeout(PATIENCE, bob.call_raw("approvals.wait", hostile)).await.unwrap().unwrap_err();
    assert_eq!(refused.code(), Some(-32602), "{refused}");
    assert!(refused.to_string().len() < 1024, "{} bytes of refusal", refused.to_string().len());
    let waiting = tokio::spawn(async move {
        alice.call_raw("approvals.wait", json!({"approval_id": id, "wait_ms": 60_000})).await.unwrap()
    });
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    wait_until("alice waits on it again", async || {
        let list = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        list.as_array().unwrap().iter().any(|a| a["approval_id"] == asked["approval_id"] && a["waiting"] == true)
    })
    .await;
    let resolve = json!({"approval_id": asked["approval_id"], "decision": "allow", "reason": "yes"});
    operator.call_raw("approvals.resolve", resolve).await.unwrap();
    let answer = waiting.await.unwrap();
    assert_eq!((&answer["state"], &answer["reason"]), (&json!("allowed"), &json!("yes")), "{answer}");
}
