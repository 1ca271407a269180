//! Hooks, policy, approvals, breakers and memory pressure, over real sockets.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

fn with_policy(policy: std::path::PathBuf) -> Setup {
    Setup { hooks: tether_hooks::HooksConfig { policy_file: Some(policy), ..Default::default() }, ..Default::default() }
}

async fn ingest(client: &Client, payload: Value) -> Value {
    client.call_raw("hooks.ingest", payload).await.unwrap()
}

#[tokio::test]
async fn real_claude_payloads_get_the_right_hook_output_over_rpc_and_http() {
    let server = TestServer::start_setup(with_policy(policy_fixture()), |_| {}).await;
    let client = server.connect().await;
    let deny_rm = json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": "recursive deletes need a human"}});
    let allow_read = json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "permissionDecisionReason": ""}});
    let cases = [
        ("PreToolUse", "deny", deny_rm),
        ("PreToolUse-allowed", "allow", allow_read),
        ("PostToolUse", "none", json!({})),
        ("UserPromptSubmit", "none", json!({})),
        ("Stop", "deny", json!({"decision": "block", "reason": "the checkout tests still fail"})),
        ("SessionStart", "none", json!({})),
        ("Notification", "none", json!({})),
    ];
    for (name, decision, expected) in cases {
        let payload = fixture(name);
        let answer = ingest(&client, payload.clone()).await;
        assert_eq!(answer["decision"], decision, "{name}: {answer}");
        assert_eq!(answer["hook_output"], expected, "{name} over hooks.ingest");
        assert_eq!(answer["known"], true);
        let (status, body) = http_post(server.addr, "/hooks", Some(&server.token), &payload.to_string()).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body, expected, "{name} over POST /hooks");
    }
    let deny = ingest(&client, fixture("PreToolUse")).await;
    assert_eq!(deny["rule"], "no-recursive-delete");

    // Every hook and decision is in the durable audit log.
    let audit = std::fs::read_to_string(server.data_dir.join("audit.jsonl")).unwrap();
    let entries: Vec<Value> = audit.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 15);
    let first = &entries[0];
    assert_eq!(first["event"], "PreToolUse");
    assert_eq!(first["tool"], "Bash");
    assert_eq!(first["decision"], "deny");
    assert_eq!(first["rule"], "no-recursive-delete");
    assert_eq!(first["session_id"], "9f3c2a4e-1b7d-4c55-9a0e-2f6d8b1c7e31");
    assert!(first["ts"].is_string() && first.get("reason").is_some());
}

#[tokio::test]
async fn post_hooks_needs_a_token_and_a_json_object() {
    let server = TestServer::start().await;
    let body = fixture("Stop").to_string();
    assert_eq!(http_post(server.addr, "/hooks", None, &body).await.0, 401);
    assert_eq!(http_post(server.addr, "/hooks", Some("wrong"), &body).await.0, 401);
    assert_eq!(http_post(server.addr, "/hooks", Some(&server.token), "[1]").await.0, 400);
    assert_eq!(http_post(server.addr, "/hooks", Some(&server.token), "{nope").await.0, 400);
    let (status, reply) = http_post(server.addr, "/hooks", Some(&server.token), "{\"tool_name\":\"x\"}").await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("params.event"), "{reply}");
}

#[tokio::test]
async fn both_forms_unknown_events_and_malformed_input() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let wrapped = ingest(
        &client,
        json!({"session_id": "s1", "event": "PreToolUse", "payload": {"tool_name": "Read", "tool_input": {}}}),
    )
    .await;
    assert_eq!(wrapped["decision"], "none", "no policy, no decision");
    assert_eq!(wrapped["hook_output"], json!({}));
    let novel = ingest(&client, json!({"hook_event_name": "TeleportStart", "session_id": "s1"})).await;
    assert_eq!(novel["known"], false, "unknown events are recorded, not rejected");
    assert_eq!(novel["decision"], "none");
    let recent = client.call_raw("events.recent", json!({"families": ["hooks.event"]})).await.unwrap();
    assert!(recent.as_array().unwrap().iter().any(|e| e["kind"] == "TeleportStart" && e["payload"]["known"] == false));

    let missing = client.call_raw("hooks.ingest", json!({"session_id": "s1"})).await.unwrap_err();
    assert!(missing.to_string().contains("params.event"), "{missing}");
    let not_object = client.call_raw("hooks.ingest", json!({"event": "Stop", "payload": [1, 2]})).await.unwrap_err();
    assert!(not_object.to_string().contains("params.payload"), "{not_object}");
}

#[tokio::test]
async fn a_large_tool_response_is_kept_as_head_and_tail() {
    let hooks = tether_hooks::HooksConfig { large_output_bytes: 1000, ..Default::default() };
    let server = TestServer::start_setup(Setup { hooks, ..Default::default() }, |_| {}).await;
    let client = server.connect().await;
    let mut payload = fixture("PostToolUse");
    payload["tool_response"]["stdout"] = json!(format!("BEGIN{}END", "x".repeat(10_000)));
    ingest(&client, payload).await;
    let recent = client.call_raw("events.recent", json!({"families": ["hooks.event"], "limit": 1})).await.unwrap();
    let kept = &recent[0]["payload"]["payload"]["tool_response"];
    // The response is an object: its JSON (keys sorted) is what gets cut.
    assert!(kept["head"].as_str().unwrap().starts_with("{\"interrupted\":false"), "{kept}");
    assert!(kept["tail"].as_str().unwrap().ends_with("END\"}"), "{kept}");
    assert!(kept["original_bytes"].as_u64().unwrap() > 10_000);
    assert_eq!(kept["head"].as_str().unwrap().len(), 500);
}

#[tokio::test]
async fn policy_reload_swaps_rules_and_a_broken_file_keeps_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::copy(policy_fixture(), &policy).unwrap();
    let server = TestServer::start_setup(with_policy(policy.clone()), |_| {}).await;
    let client = server.connect().await;
    let info = client.call_raw("policy.get", json!({})).await.unwrap();
    assert_eq!(info["rules"].as_array().unwrap().len(), 4);
    assert_eq!(info["rules"][0]["name"], "no-recursive-delete");

    std::fs::write(&policy, "[[rules]]\nname = \"no-reads\"\ntool = \"Read\"\ndecision = \"deny\"\n").unwrap();
    let reloaded = client.call_raw("policy.reload", json!({})).await.unwrap();
    assert_eq!(reloaded["rules"].as_array().unwrap().len(), 1);
    assert_eq!(ingest(&client, fixture("PreToolUse-allowed")).await["decision"], "deny");
    assert_eq!(ingest(&client, fixture("PreToolUse")).await["decision"], "none", "the old rules are gone");

    std::fs::write(
        &policy,
        "[[rules]]\nname = \"broken\"\n\ninput = { command = \"(unclosed\" }\ndecision = \"deny\"\n",
    )
    .unwrap();
    let failed = client.call_raw("policy.reload", json!({})).await.unwrap_err();
    assert!(failed.to_string().contains("line 4"), "{failed}");
    assert_eq!(ingest(&client, fixture("PreToolUse-allowed")).await["decision"], "deny", "the old rules stay");
    let agent = server.client().agent_id("a").connect().await.unwrap();
    assert_eq!(agent.call_raw("policy.reload", json!({})).await.unwrap_err().code(), Some(-32003));
}

#[tokio::test]
async fn the_rate_limit_denies_tool_calls_past_n_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rate_limit]\ntool_calls = 2\nwindow_s = 60\n").unwrap();
    let server = TestServer::start_setup(with_policy(policy), |_| {}).await;
    let client = server.connect().await;
    assert_eq!(ingest(&client, fixture("PreToolUse-allowed")).await["decision"], "none");
    assert_eq!(ingest(&client, fixture("PreToolUse-allowed")).await["decision"], "none");
    let third = ingest(&client, fixture("PreToolUse-allowed")).await;
    assert_eq!(third["decision"], "deny");
    assert!(third["reason"].as_str().unwrap().contains("rate limit"), "{third}");
    let mut other = fixture("PreToolUse-allowed");
    other["session_id"] = json!("another-session");
    assert_eq!(ingest(&client, other).await["decision"], "none", "the limit is per session");
}

fn web_fetch(session: &str) -> Value {
    json!({"session_id": session, "hook_event_name": "PreToolUse", "tool_name": "WebFetch",
           "tool_input": {"url": "https://example.com", "prompt": "summarise"}, "cwd": "/tmp", "transcript_path": "/tmp/t.jsonl", "permission_mode": "default"})
}

#[tokio::test]
async fn an_approval_round_trip_across_two_connections() {
    let server = TestServer::start_setup(with_policy(policy_fixture()), |_| {}).await;
    let agent = server.client().agent_id("claude-1").connect().await.unwrap();
    let operator = server.connect().await;
    operator.call_raw("events.subscribe", json!({"families": ["runtime.approval_required"]})).await.unwrap();

    let mut waiting = web_fetch("s-approve");
    waiting["wait_ms"] = json!(30_000);
    let pending = tokio::spawn({
        let agent = agent.clone();
        async move { agent.call_raw("hooks.ingest", waiting).await.unwrap() }
    });
    let notice = tokio::time::timeout(PATIENCE, operator.next_notification()).await.unwrap().unwrap();
    assert_eq!(notice.params["event"]["family"], "runtime.approval_required");
    let approval_id = notice.params["event"]["payload"]["approval_id"].as_str().unwrap().to_owned();
    let listed = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    assert_eq!(listed[0]["approval_id"], approval_id.as_str());
    assert_eq!(listed[0]["tool"], "WebFetch");
    assert_eq!(listed[0]["input"]["url"], "https://example.com");

    let refused = agent
        .call_raw("approvals.resolve", json!({"approval_id": approval_id, "decision": "allow"}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(-32003), "only the operator resolves");
    let resolved = operator
        .call_raw(
            "approvals.resolve",
            json!({"approval_id": approval_id, "decision": "allow", "reason": "docs site is fine"}),
        )
        .await
        .unwrap();
    assert_eq!(resolved["state"], "allowed");
    let answer = tokio::time::timeout(PATIENCE, pending).await.unwrap().unwrap();
    assert_eq!(answer["decision"], "allow");
    assert_eq!(answer["reason"], "docs site is fine");
    assert_eq!(answer["hook_output"]["hookSpecificOutput"]["permissionDecision"], "allow");
    let again = operator
        .call_raw("approvals.resolve", json!({"approval_id": approval_id, "decision": "deny"}))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some(-32602), "a settled approval cannot be resolved again");
}

#[tokio::test]
async fn an_unanswered_wait_reads_ask_and_an_expired_approval_reads_deny() {
    let hooks =
        tether_hooks::HooksConfig { policy_file: Some(policy_fixture()), approval_ttl_ms: 300, ..Default::default() };
    let server = TestServer::start_setup(Setup { hooks, ..Default::default() }, |_| {}).await;
    let client = server.connect().await;
    let mut short = web_fetch("s-wait");
    short["wait_ms"] = json!(50);
    let asked = ingest(&client, short).await;
    assert_eq!(asked["decision"], "ask");
    assert_eq!(asked["hook_output"]["hookSpecificOutput"]["permissionDecision"], "ask");
    assert!(asked["approval_id"].is_string());

    let mut long = web_fetch("s-expire");
    long["wait_ms"] = json!(10_000);
    let expired = ingest(&client, long).await;
    assert_eq!(expired["decision"], "deny", "{expired}");
    assert!(expired["reason"].as_str().unwrap().contains("expired"));
    let listed = client.call_raw("approvals.list", json!({"state": "expired"})).await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "both approvals expired by now: {listed}");
}

#[tokio::test]
async fn breakers_open_half_open_and_close_on_a_controlled_clock() {
    let clock = ManualClock::new();
    let server = TestServer::start_setup(Setup { clock: clock.clone(), ..Default::default() }, |_| {}).await;
    let client = server.connect().await;
    let failure = json!({"hook_event_name": "PostToolUseFailure", "session_id": "s", "agent_id": "sub-1", "tool_name": "Bash", "error": "exit 1"});
    for _ in 0..3 {
        ingest(&client, failure.clone()).await;
    }
    let status = client.call_raw("breakers.status", json!({"agent": "sub-1"})).await.unwrap();
    assert_eq!(status[0]["state"], "open");
    assert_eq!(status[0]["consecutive_failures"], 3);
    let delegate = json!({"session_id": "s", "agent": "sub-1", "task": "retry the build", "tier": "haiku"});
    let refused = client.call_raw("agents.delegate", delegate.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32003));
    assert!(refused.to_string().contains("is open"), "the message names the state: {refused}");

    clock.advance(Duration::from_secs(30));
    assert_eq!(client.call_raw("breakers.status", json!({"agent": "sub-1"})).await.unwrap()[0]["state"], "half_open");
    let probe = client.call_raw("agents.delegate", delegate.clone()).await.unwrap();
    assert_eq!(probe["breaker"], "half_open");
    assert!(client.call_raw("agents.delegate", delegate.clone()).await.is_err(), "one probe at a time");
    ingest(
        &client,
        json!({"hook_event_name": "SubagentStop", "session_id": "s", "agent_id": "sub-1", "stop_hook_active": false}),
    )
    .await;
    assert_eq!(client.call_raw("breakers.status", json!({"agent": "sub-1"})).await.unwrap()[0]["state"], "closed");
    assert_eq!(client.call_raw("agents.delegate", delegate).await.unwrap()["breaker"], "closed");
}

#[tokio::test]
async fn failed_tool_actions_from_proposals_feed_the_breaker() {
    let server = TestServer::start().await;
    let agent = server
        .client()
        .agent_id("flaky-agent")
        .on_request("tools.execute", |_| async { Err::<Value, _>(tether_proto::ErrorObject::new(-1, "broken")) })
        .connect()
        .await
        .unwrap();
    agent.call_raw("tools.register", json!([{"name": "t"}])).await.unwrap();
    agent.call_raw("runs.start", json!({"intent": "fail thrice"})).await.unwrap();
    for i in 0..3 {
        let actions = json!([{"id": format!("a{i}"), "type": "tool_call", "tool": "t", "parameters": {}}]);
        agent.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await.unwrap();
    }
    let status = agent.call_raw("breakers.status", json!({"agent": "flaky-agent"})).await.unwrap();
    assert_eq!(status[0]["state"], "open", "{status}");
}

#[tokio::test]
async fn memory_pressure_thresholds_and_compaction_events() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.call_raw("events.subscribe", json!({"families": ["runtime.memory_compaction"]})).await.unwrap();
    let report = |used: u64| json!({"session_id": "s-mem", "used_tokens": used, "window_tokens": 200_000});
    for (used, pressure) in
        [(10_000, "ok"), (140_000, "warn"), (170_000, "alert"), (180_000, "compact"), (199_000, "compact")]
    {
        let answer = client.call_raw("memory.report", report(used)).await.unwrap();
        assert_eq!(answer["pressure"], pressure, "{used}");
        assert!((answer["fraction"].as_f64().unwrap() - used as f64 / 200_000.0).abs() < 1e-9);
    }
    let event = tokio::time::timeout(PATIENCE, client.next_notification()).await.unwrap().unwrap();
    assert_eq!(event.params["event"]["family"], "runtime.memory_compaction");
    assert_eq!(event.params["event"]["session_id"], "s-mem");
    assert_eq!(event.params["event"]["payload"]["used_tokens"], 180_000, "published on entering compact, once");
    let zero = client
        .call_raw("memory.report", json!({"session_id": "s", "used_tokens": 1, "window_tokens": 0}))
        .await
        .unwrap_err();
    assert!(zero.to_string().contains("params.window_tokens"), "{zero}");
}
