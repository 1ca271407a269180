//! Overseers over real sockets: a plain WebSocket client registers, receives
//! `hooks.review` for a `review` rule, and its verdict (or the fallback) is what the
//! hook answers, over `hooks.ingest` and `POST /hooks`; audited, published, counted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const POLICY: &str = r#"
[[rules]]
name = "review-bash"
event = "PreToolUse"
tool = "Bash"
decision = "review"

[[rules]]
name = "read-ok"
tool = "Read"
decision = "allow"
"#;

async fn server(tune: impl FnOnce(&mut tether_hooks::HooksConfig)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let mut hooks = tether_hooks::HooksConfig { policy_file: Some(policy), ..Default::default() };
    tune(&mut hooks);
    let server = TestServer::start_setup(Setup { hooks, ..Default::default() }, |_| {}).await;
    // The policy was read at start; the directory may go.
    drop(dir);
    server
}

fn bash(session: &str, command: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": session, "tool_name": "Bash",
           "tool_input": {"command": command}})
}

/// What the test overseer does with a command.
fn verdict(command: &str) -> Option<Value> {
    if command.contains("rm -rf") {
        Some(json!({"decision": "deny", "reason": "destructive command"}))
    } else if command.starts_with("ls") {
        Some(json!({"decision": "allow"}))
    } else if command.starts_with("curl") {
        Some(json!({"decision": "ask", "reason": "network access"}))
    } else if command.starts_with("boom") {
        Some(json!({"not": "a verdict"}))
    } else {
        None // `sleep`: never answers, so the deadline passes
    }
}

/// A plain WebSocket overseer: registers as `name`, answers each review by `verdict`,
/// reports every review it received; with `vanish`, it closes instead of answering.
async fn overseer(server: &TestServer, name: &str, vanish: bool) -> mpsc::UnboundedReceiver<Value> {
    let mut ws = server.raw_session().await;
    let registered = rpc(
        &mut ws,
        json!({"jsonrpc": "2.0", "id": 1, "method": "overseers.register", "params": {"name": name, "tools": ["Bash"]}}),
    )
    .await;
    assert_eq!(registered["result"]["name"], name, "{registered}");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else { continue };
            let call: Value = serde_json::from_str(text.as_str()).unwrap();
            if call["method"] != "hooks.review" {
                continue;
            }
            let _ = tx.send(call["params"].clone());
            if vanish {
                let _ = ws.close(None).await;
                return;
            }
            let command = call["params"]["input"]["command"].as_str().unwrap_or_default();
            if let Some(result) = verdict(command) {
                let reply = json!({"jsonrpc": "2.0", "id": call["id"], "result": result});
                ws.send(Message::Text(reply.to_string().into())).await.unwrap();
            }
        }
    });
    rx
}

async fn ingest(client: &tether_client::Client, payload: Value) -> Value {
    client.call_raw("hooks.ingest", payload).await.unwrap()
}

async fn scrape(server: &TestServer) -> String {
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.token
    );
    let (status, body) = http_raw(server.addr, request).await;
    assert_eq!(status, 200);
    body.as_str().unwrap().to_owned()
}

fn sample(text: &str, key: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(key)?.trim().parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn an_overseer_decides_reviewed_hooks_and_the_deadline_falls_back() {
    let server = server(|h| h.review_timeout_ms = 400).await;
    let client = server.connect().await;
    let mut reviews = overseer(&server, "sentinel", false).await;

    // Deny: the overseer's reason reaches Claude, over hooks.ingest and POST /hooks.
    let denied = ingest(&client, bash("s1", "rm -rf /")).await;
    assert_eq!(denied["decision"], "deny", "{denied}");
    let said = denied["hook_output"]["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap();
    assert!(said.contains("destructive command") && said.contains("sentinel"), "{said}");
    assert_eq!(denied["review"]["overseer"], "sentinel");
    let review = reviews.recv().await.unwrap();
    assert_eq!(review["event_id"], denied["event_id"], "the review names the hook's own event");
    assert_eq!((review["tool"].as_str(), review["rule"].as_str()), (Some("Bash"), Some("review-bash")));
    assert_eq!(review["session_id"], "s1");
    assert_eq!(review["deadline_ms"], 400);
    let (status, over_http) =
        http_post(server.addr, "/hooks", Some(&server.token), &bash("s1", "rm -rf ~").to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(over_http["hookSpecificOutput"]["permissionDecision"], "deny", "{over_http}");
    reviews.recv().await.unwrap();

    // Allow.
    let allowed = ingest(&client, bash("s1", "ls -la")).await;
    assert_eq!(allowed["hook_output"]["hookSpecificOutput"]["permissionDecision"], "allow", "{allowed}");
    reviews.recv().await.unwrap();

    // A rule that is not `review` never reaches the overseer.
    let read = json!({"hook_event_name": "PreToolUse", "session_id": "s1", "tool_name": "Read", "tool_input": {}});
    assert_eq!(ingest(&client, read).await["decision"], "allow");
    assert!(reviews.try_recv().is_err(), "no review for a rule that decides by itself");

    // Ask: an approval that names the overseer and its reason.
    let asked = ingest(&client, bash("s2", "curl https://example.com")).await;
    assert_eq!(asked["decision"], "ask", "{asked}");
    let approval_id = asked["approval_id"].as_str().expect("an approval is opened");
    let approvals = client.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    let approval = approvals.as_array().unwrap().iter().find(|a| a["approval_id"] == approval_id).unwrap();
    assert_eq!(approval["flagged_by"], "sentinel", "{approval}");
    assert!(approval["flag_reason"].as_str().unwrap().contains("network access"), "{approval}");
    assert_eq!(approval["rule"], "review-bash");
    reviews.recv().await.unwrap();

    // The deadline passes: the fallback (ask), with a reason that says so.
    let started = Instant::now();
    let late = ingest(&client, bash("s3", "sleep 10")).await;
    assert!(started.elapsed() >= Duration::from_millis(400), "the overseer had its deadline");
    assert_eq!(late["decision"], "ask", "{late}");
    assert!(late["reason"].as_str().unwrap().contains("did not answer within 400 ms"), "{late}");
    assert_eq!(late["review"]["fallback"], "timeout");
    let approvals = client.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    let approval = approvals.as_array().unwrap().iter().find(|a| a["approval_id"] == late["approval_id"]).unwrap();
    assert!(approval["flagged_by"].is_null() && approval["flag_reason"].as_str().unwrap().contains("fell back"));
    reviews.recv().await.unwrap();

    // An answer that is not a verdict is an error: the fallback again.
    let garbled = ingest(&client, bash("s3", "boom")).await;
    assert_eq!((garbled["decision"].as_str(), garbled["review"]["fallback"].as_str()), (Some("ask"), Some("error")));

    // Recorded: the audit line and the event carry the verdict; the metrics moved.
    let audit = client.call_raw("audit.recent", json!({"session_id": "s1"})).await.unwrap();
    let line = audit.as_array().unwrap().iter().find(|l| l["review"]["decision"] == "deny").expect("audited");
    assert_eq!(line["review"]["overseer"], "sentinel");
    assert_eq!(line["review"]["reason"], "destructive command");
    assert!(line["review"]["latency_ms"].as_f64().unwrap() >= 0.0);
    let events = client.call_raw("events.recent", json!({"families": ["hooks.event"], "limit": 100})).await.unwrap();
    let reviewed: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["kind"] == "hook.reviewed").collect();
    assert_eq!(reviewed.len(), 6, "{events}");
    assert_eq!(reviewed[0]["payload"]["decision"], "deny");
    assert_eq!(reviewed[0]["payload"]["overseer"], "sentinel");
    assert_eq!(reviewed[0]["payload"]["event_id"], denied["event_id"]);
    assert!(reviewed[0]["payload"].get("fallback").is_none());
    assert_eq!(reviewed[4]["payload"]["fallback"], "timeout");
    let metrics = scrape(&server).await;
    assert_eq!(sample(&metrics, "tether_hook_reviews_total{decision=\"deny\",outcome=\"answered\"}"), 2.0);
    assert_eq!(sample(&metrics, "tether_hook_reviews_total{decision=\"allow\",outcome=\"answered\"}"), 1.0);
    assert_eq!(sample(&metrics, "tether_hook_reviews_total{decision=\"ask\",outcome=\"timeout\"}"), 1.0);
    assert_eq!(sample(&metrics, "tether_hook_review_seconds_count"), 6.0, "{metrics}");

    // overseers.list: its counts and latency.
    let listed = client.call_raw("overseers.list", json!({})).await.unwrap();
    let sentinel = &listed[0];
    assert_eq!(sentinel["name"], "sentinel");
    assert_eq!((sentinel["reviews"].as_u64(), sentinel["denied"].as_u64()), (Some(6), Some(2)));
    assert_eq!((sentinel["allowed"].as_u64(), sentinel["asked"].as_u64()), (Some(1), Some(1)));
    assert_eq!(sentinel["failed"], 2);
    assert!(sentinel["latency_p99_ms"].as_f64().unwrap() < 400.0, "{sentinel}");
}

#[tokio::test]
async fn with_no_overseer_connected_the_fallback_decides_and_says_why() {
    let server = server(|_| {}).await;
    let client = server.connect().await;
    let asked = ingest(&client, bash("s", "rm -rf /")).await;
    assert_eq!(asked["decision"], "ask", "never a silent allow: {asked}");
    assert!(asked["reason"].as_str().unwrap().contains("no overseer"), "{asked}");
    assert_eq!(asked["review"]["fallback"], "no_overseer");
    assert!(asked["approval_id"].is_string());

    let strict = self::server(|h| h.review_fallback = tether_proto::hooks::Decision::Deny).await;
    let client = strict.connect().await;
    let denied = ingest(&client, bash("s", "ls")).await;
    assert_eq!(denied["decision"], "deny", "{denied}");
    let said = denied["hook_output"]["hookSpecificOutput"]["permissionDecisionReason"].as_str().unwrap();
    assert!(said.contains("no overseer") && said.contains("hooks.review_fallback"), "{said}");

    // `hooks.default_decision = "review"`: what no rule decides goes to the overseer too.
    let by_default = self::server(|h| h.default_decision = tether_proto::hooks::Decision::Review).await;
    let client = by_default.connect().await;
    let write = json!({"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "Write", "tool_input": {}});
    let reviewed = ingest(&client, write).await;
    assert_eq!(reviewed["rule"], "default_decision", "{reviewed}");
    assert_eq!(reviewed["review"]["fallback"], "no_overseer");
    assert_eq!(reviewed["decision"], "ask");

    // A fallback that could let a call through is refused at start.
    for unsafe_fallback in [tether_proto::hooks::Decision::Allow, tether_proto::hooks::Decision::None] {
        let config = tether_hooks::HooksConfig { review_fallback: unsafe_fallback, ..Default::default() };
        assert!(config.check().unwrap_err().contains("hooks.review_fallback"));
    }
}

#[tokio::test]
async fn an_agent_cannot_oversee_and_a_vanishing_overseer_falls_back_at_once() {
    let server = server(|h| h.review_timeout_ms = 5000).await;
    let agent = server.client().agent_id("claude-1").connect().await.unwrap();
    let refused = agent.call_raw("overseers.register", json!({"name": "me"})).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32003), "an agent must never review its own gate");
    assert_eq!(agent.call_raw("overseers.list", json!({})).await.unwrap_err().code(), Some(-32003));

    let client = server.connect().await;
    let mut reviews = overseer(&server, "flaky", true).await;
    let started = Instant::now();
    let answer = ingest(&client, bash("s", "ls")).await;
    assert!(started.elapsed() < Duration::from_millis(2500), "at once, not at the deadline: {:?}", started.elapsed());
    assert_eq!(answer["decision"], "ask", "{answer}");
    assert_eq!(answer["review"]["fallback"], "disconnected");
    assert!(answer["reason"].as_str().unwrap().contains("disconnected"), "{answer}");
    reviews.recv().await.unwrap();
    // Its registration went with its connection.
    wait_until("the overseer is unlisted", async || {
        client.call_raw("overseers.list", json!({})).await.unwrap().as_array().unwrap().is_empty()
    })
    .await;
    assert_eq!(ingest(&client, bash("s", "ls")).await["review"]["fallback"], "no_overseer");
}

#[tokio::test]
async fn registration_is_bounded_and_ordered_by_priority() {
    let server = server(|h| {
        h.max_overseers = 2;
        h.max_overseer_globs = 2;
    })
    .await;
    let client = server.connect().await;
    let long = "x".repeat(300);
    let refused = client.call_raw("overseers.register", json!({"name": long})).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32602));
    assert!(refused.to_string().contains("limits.names.agent"), "{refused}");
    let refused =
        client.call_raw("overseers.register", json!({"name": "g", "tools": ["A", "B", "C"]})).await.unwrap_err();
    assert!(refused.to_string().contains("hooks.max_overseer_globs"), "{refused}");
    let refused = client.call_raw("overseers.register", json!({"name": "g", "tools": ["["]})).await.unwrap_err();
    assert!(refused.to_string().contains("bad glob"), "{refused}");

    // Two overseers: the lower priority reviews, whatever the order they came in.
    let late = server.connect().await;
    late.call_raw("overseers.register", json!({"name": "second", "priority": 5})).await.unwrap();
    let first = server
        .client()
        .on_request("hooks.review", |_| async { Ok(json!({"decision": "allow", "reason": "fine"})) })
        .connect()
        .await
        .unwrap();
    first.call_raw("overseers.register", json!({"name": "first", "priority": -1})).await.unwrap();
    let listed = client.call_raw("overseers.list", json!({})).await.unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["first", "second"]);
    let third = client.call_raw("overseers.register", json!({"name": "third"})).await.unwrap_err();
    assert!(third.to_string().contains("hooks.max_overseers"), "{third}");
    let answer = ingest(&client, bash("s", "ls")).await;
    assert_eq!((answer["decision"].as_str(), answer["review"]["overseer"].as_str()), (Some("allow"), Some("first")));
}

/// The real binary: `tether hook` waits for the review; `tether overseers ls` shows who reviewed.
#[tokio::test(flavor = "multi_thread")]
async fn tether_hook_waits_for_the_review_and_overseers_ls_shows_it() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, format!("[hooks]\npolicy_file = {:?}\nreview_timeout_ms = 2000\n", policy)).unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let overseer = tether_client::Client::builder(&daemon.url)
        .token(daemon.token())
        .on_request("hooks.review", |review: Value| async move {
            // Slow enough that an answer sent before the review would be caught.
            tokio::time::sleep(Duration::from_millis(150)).await;
            Ok(verdict(review["input"]["command"].as_str().unwrap_or_default()).unwrap())
        })
        .connect()
        .await
        .unwrap();
    overseer.call_raw("overseers.register", json!({"name": "sentinel"})).await.unwrap();

    let tether = |args: &[&str], stdin: Option<&Value>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(args)
            .arg("--data-dir")
            .arg(&daemon.data_dir)
            .env_remove("TETHER_TOKEN")
            .env_remove("TETHER_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let input = stdin.map(Value::to_string).unwrap_or_default();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let denied = tokio::task::block_in_place(|| tether(&["hook"], Some(&bash("s", "rm -rf /"))));
    assert_eq!(denied.status.code(), Some(2), "a deny blocks");
    let out: Value = serde_json::from_slice(&denied.stdout).unwrap();
    assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
    assert!(String::from_utf8_lossy(&denied.stderr).contains("destructive command"));
    let allowed = tokio::task::block_in_place(|| tether(&["hook"], Some(&bash("s", "ls"))));
    assert_eq!(allowed.status.code(), Some(0));
    let out: Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "allow");

    let listed = tokio::task::block_in_place(|| tether(&["overseers", "ls", "--json"], None));
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let line: Value = serde_json::from_str(String::from_utf8_lossy(&listed.stdout).lines().next().unwrap()).unwrap();
    assert_eq!((line["name"].as_str(), line["reviews"].as_u64()), (Some("sentinel"), Some(2)));
    assert!(line["latency_p50_ms"].as_f64().unwrap() >= 150.0, "{line}");
    let table = tokio::task::block_in_place(|| tether(&["overseers", "ls"], None));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("NAME") && text.contains("sentinel"), "{text}");
}
