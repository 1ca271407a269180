//! Trust under hostile input: hooks decide only when a rule decides, identities
//! come from the principal, every store of client data is bounded, and the small
//! leaks (healthz, breakers, policy) are closed. Over real sockets.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

fn hooks_setup(tune: impl FnOnce(&mut tether_hooks::HooksConfig)) -> Setup {
    let mut hooks = tether_hooks::HooksConfig { policy_file: Some(policy_fixture()), ..Default::default() };
    tune(&mut hooks);
    Setup { hooks, ..Default::default() }
}

async fn ingest(client: &Client, payload: Value) -> Value {
    client.call_raw("hooks.ingest", payload).await.unwrap()
}

fn pre_tool_use(tool: &str, session: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": session, "tool_name": tool, "tool_input": {"x": 1}})
}

fn permission_request(tool: &str) -> Value {
    json!({"hook_event_name": "PermissionRequest", "session_id": "s", "tool_name": tool, "tool_input": {}})
}

#[tokio::test]
async fn without_a_matching_rule_permission_hooks_carry_no_decision() {
    let server = TestServer::start().await; // no policy at all
    let client = server.connect().await;
    for payload in [pre_tool_use("Bash", "s"), permission_request("Bash")] {
        let answer = ingest(&client, payload.clone()).await;
        assert_eq!(answer["decision"], "none", "{answer}");
        assert_eq!(answer["hook_output"], json!({}), "Claude Code's own permission flow runs");
        let (status, body) = http_post(server.addr, "/hooks", Some(&server.token), &payload.to_string()).await;
        assert_eq!((status, body), (200, json!({})));
    }
}

#[tokio::test]
async fn a_rules_allow_deny_and_ask_each_come_through() {
    let server = TestServer::start_setup(hooks_setup(|_| {}), |_| {}).await;
    let client = server.connect().await;
    let decision = |v: &Value| v["hook_output"]["hookSpecificOutput"]["permissionDecision"].clone();
    assert_eq!(decision(&ingest(&client, pre_tool_use("Read", "s")).await), "allow");
    assert_eq!(decision(&ingest(&client, fixture("PreToolUse")).await), "deny");
    assert_eq!(decision(&ingest(&client, pre_tool_use("WebFetch", "s")).await), "ask");
    assert_eq!(ingest(&client, pre_tool_use("Glob", "s")).await["hook_output"], json!({}));

    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    let rules = "[[rules]]\nevent = \"PermissionRequest\"\ntool = \"Read\"\ndecision = \"allow\"\n\n\
                 [[rules]]\nevent = \"PermissionRequest\"\ntool = \"Web*\"\ndecision = \"ask\"\n";
    std::fs::write(&policy, rules).unwrap();
    let server = TestServer::start_setup(hooks_setup(|h| h.policy_file = Some(policy)), |_| {}).await;
    let client = server.connect().await;
    let allowed = ingest(&client, permission_request("Read")).await;
    assert_eq!(allowed["hook_output"]["hookSpecificOutput"]["decision"]["behavior"], "allow");
    let asked = ingest(&client, permission_request("WebFetch")).await;
    assert_eq!(asked["decision"], "ask");
    assert_eq!(asked["hook_output"], json!({}), "ask leaves Claude Code to show its own dialog");
}

#[tokio::test]
async fn default_decision_closes_the_default_for_permission_events_only() {
    let server =
        TestServer::start_setup(hooks_setup(|h| h.default_decision = tether_proto::hooks::Decision::Deny), |_| {})
            .await;
    let client = server.connect().await;
    let denied = ingest(&client, pre_tool_use("Glob", "s")).await;
    assert_eq!(denied["decision"], "deny");
    assert_eq!(denied["rule"], "default_decision");
    assert_eq!(denied["hook_output"]["hookSpecificOutput"]["permissionDecision"], "deny");
    let refused = ingest(&client, permission_request("Glob")).await;
    assert_eq!(refused["hook_output"]["hookSpecificOutput"]["decision"]["behavior"], "deny");
    assert_eq!(ingest(&client, pre_tool_use("Read", "s")).await["decision"], "allow", "a rule still decides first");
    let prompt = json!({"hook_event_name": "UserPromptSubmit", "session_id": "s", "prompt": "hi"});
    assert_eq!(ingest(&client, prompt).await["decision"], "none", "not a permission: untouched");

    let asking =
        TestServer::start_setup(hooks_setup(|h| h.default_decision = tether_proto::hooks::Decision::Ask), |_| {}).await;
    let answer = ingest(&asking.connect().await, pre_tool_use("Glob", "s")).await;
    assert_eq!(answer["decision"], "ask");
    assert!(answer["approval_id"].is_string(), "an ask by default waits for a human like any other");
}

#[tokio::test]
async fn an_agent_cannot_open_another_agents_breaker() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let mallory = server.client().agent_id("mallory").connect().await.unwrap();
    let forged = json!({"hook_event_name": "PostToolUseFailure", "session_id": "s", "agent_id": "alice", "tool_name": "Bash", "error": "x"});
    for _ in 0..5 {
        ingest(&mallory, forged.clone()).await;
    }
    let alice = operator.call_raw("breakers.status", json!({"agent": "alice"})).await.unwrap();
    assert_eq!(alice[0]["state"], "closed", "{alice}");
    let own = operator.call_raw("breakers.status", json!({"agent": "mallory"})).await.unwrap();
    assert_eq!(own[0]["state"], "open", "the failures were mallory's own: {own}");
    let delegated = operator
        .call_raw("agents.delegate", json!({"session_id": "s", "agent": "alice", "task": "review"}))
        .await
        .unwrap();
    assert_eq!(delegated["breaker"], "closed");
    // The operator forwarding hooks (POST /hooks) may name the agent.
    for _ in 0..3 {
        ingest(&operator, forged.clone()).await;
    }
    let named = operator.call_raw("breakers.status", json!({"agent": "alice"})).await.unwrap();
    assert_eq!(named[0]["state"], "open");
}

#[tokio::test]
async fn an_agent_cannot_spend_another_sessions_rate_limit_nor_escape_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[rate_limit]\ntool_calls = 2\nwindow_s = 60\n").unwrap();
    let server = TestServer::start_setup(hooks_setup(|h| h.policy_file = Some(policy)), |_| {}).await;
    let mallory = server.client().agent_id("mallory").connect().await.unwrap();
    let victim = server.client().agent_id("victim").connect().await.unwrap();
    // Naming the victim's session spends mallory's own budget, not the victim's.
    assert_eq!(ingest(&mallory, pre_tool_use("Bash", "victim")).await["decision"], "none");
    assert_eq!(ingest(&mallory, pre_tool_use("Bash", "victim")).await["decision"], "none");
    assert_eq!(ingest(&victim, pre_tool_use("Bash", "victim")).await["decision"], "none", "the victim is untouched");
    // Rotating session_id does not reset mallory's budget.
    let third = ingest(&mallory, pre_tool_use("Bash", "fresh-session-id")).await;
    assert_eq!(third["decision"], "deny", "{third}");
    assert!(third["reason"].as_str().unwrap().contains("mallory"), "{third}");
}

#[tokio::test]
async fn an_agent_cannot_publish_into_another_sessions_stream() {
    let server = TestServer::start().await;
    let victim = server.client().agent_id("victim").connect().await.unwrap();
    victim.call_raw("events.subscribe", json!({"families": ["hooks.event"]})).await.unwrap();
    let mallory = server.client().agent_id("mallory").connect().await.unwrap();
    let forged =
        json!({"hook_event_name": "Notification", "session_id": "victim", "agent_id": "victim", "message": "forged"});
    ingest(&mallory, forged).await;
    let own = ingest(&victim, json!({"hook_event_name": "Notification", "session_id": "v", "message": "mine"})).await;
    let notice = tokio::time::timeout(PATIENCE, victim.next_notification()).await.unwrap().unwrap();
    let event = &notice.params["event"];
    assert_eq!(event["payload"]["event_id"], own["event_id"], "the first event the victim sees is its own");
    assert_eq!(event["agent_id"], "victim");

    // Claude Code's own fields are kept, under their own names, in the event and the audit.
    let operator = server.connect().await;
    let recent = operator.call_raw("events.recent", json!({"families": ["hooks.event"], "limit": 2})).await.unwrap();
    let forged = &recent[0];
    assert_eq!(forged["agent_id"], "mallory");
    assert_eq!(forged["payload"]["claude_session_id"], "victim");
    assert_eq!(forged["payload"]["subagent_id"], "victim");
    let audit = std::fs::read_to_string(server.data_dir.join("audit.jsonl")).unwrap();
    let first: Value = serde_json::from_str(audit.lines().next().unwrap()).unwrap();
    assert_eq!((first["agent_id"].clone(), first["claude_session_id"].clone()), (json!("mallory"), json!("victim")));
}

#[tokio::test]
async fn agents_see_only_their_own_breaker_and_never_the_policy() {
    let server = TestServer::start_setup(hooks_setup(|_| {}), |_| {}).await;
    let operator = server.connect().await;
    let failure =
        |agent: &str| json!({"hook_event_name": "PostToolUseFailure", "agent_id": agent, "tool_name": "Bash"});
    ingest(&operator, failure("alice")).await;
    let bob = server.client().agent_id("bob").connect().await.unwrap();
    ingest(&bob, failure("ignored")).await;
    let all = bob.call_raw("breakers.status", json!({})).await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["agent"], "bob");
    assert_eq!(bob.call_raw("breakers.status", json!({"agent": "alice"})).await.unwrap(), json!([]));
    let everyone = operator.call_raw("breakers.status", json!({})).await.unwrap();
    assert_eq!(everyone.as_array().unwrap().len(), 2);

    let refused = bob.call_raw("policy.get", json!({})).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32003));
    assert!(refused.to_string().contains("policy.get is for the operator only"), "{refused}");
    assert!(operator.call_raw("policy.get", json!({})).await.is_ok());
    // The access rule is declared at registration, so discovery says it too.
    let doc = operator.call_raw("rpc.discover", json!({})).await.unwrap();
    let access =
        |name: &str| doc["methods"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()["x-access"].clone();
    assert_eq!(access("policy.get"), "operator");
    assert_eq!(access("sessions.spawn"), "operator");
    assert_eq!(access("runs.start"), "authenticated");
}

#[tokio::test]
async fn healthz_checks_host_and_origin_and_reports_a_poisoned_journal() {
    let fsync = Arc::new(Flaky(AtomicBool::new(false)));
    let server = TestServer::start_setup(Setup { fsync: fsync.clone(), ..Default::default() }, |c| {
        c.allowed_origins = vec!["http://127.0.0.1:3000".into()];
    })
    .await;
    let get = |headers: &str| format!("GET /healthz HTTP/1.1\r\n{headers}Connection: close\r\n\r\n");
    assert_eq!(http_raw(server.addr, get("Host: evil.example\r\n")).await.0, 403, "DNS rebinding");
    assert_eq!(http_raw(server.addr, get("Host: 127.0.0.1\r\nOrigin: http://evil.example\r\n")).await.0, 403);
    let allowed = get("Host: 127.0.0.1\r\nOrigin: http://127.0.0.1:3000\r\n");
    assert_eq!(http_raw(server.addr, allowed).await.0, 200);
    assert_eq!(server.healthz().await["status"], "ok");

    fsync.0.store(true, Ordering::SeqCst);
    let client = server.connect().await;
    let failed = client.call_raw("runs.start", json!({"intent": "x", "agent_id": "a"})).await.unwrap_err();
    assert_eq!(failed.code(), Some(-32603));
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    assert!(body["problems"][0].as_str().unwrap().contains("journal"), "{body}");
}

#[tokio::test]
async fn run_caps_name_their_limit() {
    let runs = tether_runs::RunsConfig {
        max_intent_bytes: 1024,
        max_idempotency_key_bytes: 32,
        max_active_runs_per_agent: 2,
        max_tools_per_connection: 2,
        max_subscriptions: 1,
        ..Default::default()
    };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let client = server.client().agent_id("capped").connect().await.unwrap();
    let start = |intent: String| json!({"intent": intent});

    let long = client.call_raw("runs.start", start("i".repeat(4 << 20))).await.unwrap_err();
    assert_eq!(long.code(), Some(-32602));
    assert!(long.to_string().contains("params.intent") && long.to_string().contains("runs.max_intent_bytes"));
    let key = json!({"intent": "x", "idempotency_key": "k".repeat(1 << 20)});
    let keyed = client.call_raw("runs.start", key).await.unwrap_err();
    assert_eq!(keyed.code(), Some(-32602));
    assert!(keyed.to_string().contains("runs.max_idempotency_key_bytes"), "{keyed}");
    assert!(keyed.to_string().len() < 600, "the key is not echoed back");

    let first = client.call_raw("runs.start", start("one".into())).await.unwrap();
    client.call_raw("runs.start", start("two".into())).await.unwrap();
    let third = client.call_raw("runs.start", start("three".into())).await.unwrap_err();
    assert_eq!(third.code(), Some(-32002));
    assert!(third.to_string().contains("runs.max_active_runs_per_agent"), "{third}");
    client
        .call_raw("runs.complete", json!({"run_id": first["run_id"], "outcome": {"status": "success"}}))
        .await
        .unwrap();
    let room = client.call_raw("runs.start", start("three again".into())).await.unwrap();

    let tools = json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]);
    let refused = client.call_raw("tools.register", tools).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32002));
    assert!(refused.to_string().contains("runs.max_tools_per_connection"), "{refused}");
    assert_eq!(client.call_raw("tools.register", json!([{"name": "a"}, {"name": "b"}])).await.unwrap(), 2);
    assert_eq!(
        client.call_raw("tools.register", json!([{"name": "a"}])).await.unwrap(),
        1,
        "re-registering is no new tool"
    );

    client.call_raw("runs.subscribe", json!({"run_id": room["run_id"]})).await.unwrap();
    let second = client.call_raw("runs.subscribe", json!({"run_id": first["run_id"]})).await.unwrap_err();
    assert_eq!(second.code(), Some(-32002));
    assert!(second.to_string().contains("runs.max_subscriptions"), "{second}");
}

#[tokio::test]
async fn event_subscriptions_per_connection_are_capped() {
    let events = tether_events::EventsConfig { max_subscriptions: 2, ..Default::default() };
    let server = TestServer::start_setup(Setup { events, ..Default::default() }, |_| {}).await;
    let client = server.connect().await;
    let first = client.call_raw("events.subscribe", json!({})).await.unwrap();
    client.call_raw("events.subscribe", json!({})).await.unwrap();
    let third = client.call_raw("events.subscribe", json!({})).await.unwrap_err();
    assert_eq!(third.code(), Some(-32002));
    assert!(third.to_string().contains("events.max_subscriptions"), "{third}");
    assert_eq!(
        client.call_raw("events.unsubscribe", json!({"subscription": first["subscription"]})).await.unwrap()["ok"],
        true
    );
    assert!(client.call_raw("events.subscribe", json!({})).await.is_ok(), "room again");
    // Another connection has its own allowance.
    assert!(server.connect().await.call_raw("events.subscribe", json!({})).await.is_ok());
}

#[tokio::test]
async fn pending_approvals_are_capped_per_session_trimmed_and_evicted_once_settled() {
    let server = TestServer::start_setup(
        hooks_setup(|h| {
            h.max_pending_approvals = 2;
            h.max_approval_input_bytes = 4096;
            h.approval_retention_ms = 1;
        }),
        |_| {},
    )
    .await;
    let agent = server.client().agent_id("asker").connect().await.unwrap();
    let mut big = pre_tool_use("WebFetch", "s");
    big["tool_input"] = json!({"url": "https://example.com", "body": "b".repeat(1 << 20)});
    let first = ingest(&agent, big.clone()).await;
    ingest(&agent, big.clone()).await;
    // Past the cap the hook is still answered, never an error (read as "no objection"): deny, naming the limit.
    let third = ingest(&agent, big.clone()).await;
    assert_eq!((&third["decision"], &third["rule"]), (&json!("deny"), &json!("unjudged")), "{third}");
    assert!(third["reason"].as_str().unwrap().contains("hooks.max_pending_approvals"), "{third}");
    // Another agent's allowance is its own.
    let other = server.client().agent_id("other").connect().await.unwrap();
    assert_eq!(ingest(&other, big).await["decision"], "ask");

    let operator = server.connect().await;
    let listed = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 3);
    let kept = &listed[0]["input"];
    assert_eq!(kept["url"], "https://example.com", "small fields survive whole");
    assert_eq!(kept["body"]["original_bytes"], 1 << 20);
    assert!(serde_json::to_string(kept).unwrap().len() < 8192);
    assert_eq!(listed[0]["agent_id"], "asker");

    let id = first["approval_id"].as_str().unwrap().to_owned();
    let resolve = json!({"approval_id": id, "decision": "deny"});
    operator.call_raw("approvals.resolve", resolve).await.unwrap();
    let file = server.data_dir.join(format!("approvals/{id}.json"));
    wait_until("the settled approval is deleted after its retention", async || {
        let all = operator.call_raw("approvals.list", json!({})).await.unwrap();
        !all.as_array().unwrap().iter().any(|a| a["approval_id"] == id.as_str())
    })
    .await;
    assert!(!file.exists());
    assert!(ingest(&agent, pre_tool_use("WebFetch", "s")).await["approval_id"].is_string(), "room again");
}

#[tokio::test]
async fn runs_ended_by_the_disconnect_sweep_count_against_retention() {
    let runs = tether_runs::RunsConfig { retain_runs_per_agent: 1, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let client = server.client().agent_id("leaver").connect().await.unwrap();
    let done = client.call_raw("runs.start", json!({"intent": "finished"})).await.unwrap();
    client
        .call_raw("runs.complete", json!({"run_id": done["run_id"], "outcome": {"status": "success"}}))
        .await
        .unwrap();
    let left = client.call_raw("runs.start", json!({"intent": "abandoned"})).await.unwrap();
    client.close();
    let operator = server.connect().await;
    wait_until("the swept run evicts the older one", async || {
        let list = operator.call_raw("runs.list", json!({"agent_id": "leaver"})).await.unwrap();
        let runs = list["runs"].as_array().unwrap();
        runs.len() == 1 && runs[0]["run_id"] == left["run_id"] && runs[0]["status"] == "incomplete"
    })
    .await;
}

#[tokio::test]
async fn error_messages_quote_only_a_prefix_of_client_input() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let error = client.call_raw(&"m".repeat(1 << 20), json!({})).await.unwrap_err();
    assert_eq!(error.code(), Some(-32601));
    assert!(error.to_string().len() < 600, "{} bytes", error.to_string().len());
    let approval = json!({"approval_id": "a".repeat(100_000), "decision": "allow"});
    let error = client.call_raw("approvals.resolve", approval).await.unwrap_err();
    assert!(error.to_string().len() < 300, "{error}");
}

#[test]
fn rss_stays_bounded_while_100_hooks_with_4_mib_inputs_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let rss = || rss_kib(daemon.child.id());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let before = rss();
    runtime.block_on(async {
        let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
        for i in 0..100 {
            let payload = json!({"hook_event_name": "PreToolUse", "session_id": format!("s{i}"), "tool_name": "Write",
                "tool_input": {"file_path": "/tmp/x", "content": "c".repeat(4 << 20)}});
            client.call_raw("hooks.ingest", payload).await.unwrap();
        }
        let recent = client.call_raw("events.recent", json!({"limit": 1024})).await.unwrap();
        let last = &recent.as_array().unwrap().last().unwrap()["payload"]["payload"]["tool_input"]["content"];
        assert_eq!(last["original_bytes"], 4 << 20, "kept as head + tail");
    });
    let after = rss();
    eprintln!("daemon RSS: {before} KiB before, {after} KiB after 100 hooks of 4 MiB");
    // Before bounding, 120 such hooks took the daemon from 8 MiB to 1.7 GiB.
    assert!(after < before + 96 * 1024, "RSS grew from {before} KiB to {after} KiB");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn memory_returns_near_the_baseline_after_a_burst_of_connections_closes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let pid = daemon.child.id();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let baseline = rss_kib(pid);
    // 800 connections open, then closed; returns the peak and the RSS once it settled
    // below `ceiling(peak)`.
    let burst = |ceiling: &dyn Fn(u64) -> u64| {
        let peak = runtime.block_on(async {
            let mut open = Vec::new();
            for _ in 0..800 {
                open.push(Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap());
            }
            let peak = rss_kib(pid);
            for client in &open {
                client.close();
            }
            peak
        });
        let after = runtime.block_on(async {
            wait_until("every connection closed", async || {
                http_get(daemon.addr, "/healthz").await.1["connections"] == 0
            })
            .await;
            let mut after = rss_kib(pid);
            let settled = async || {
                after = rss_kib(pid);
                after < ceiling(peak)
            };
            wait_until("the daemon gives the burst's memory back", settled).await;
            after
        });
        (peak, after)
    };
    // A third of the burst back at least: what stays is the allocator's and the
    // runtime's own (about 3-4 MiB here, more on a loaded machine), which does not shrink
    // with what a connection costs: of a 7.6 MiB burst of 800 connections, half came back.
    let (peak, after) = burst(&|peak| baseline + (peak - baseline) * 2 / 3);
    eprintln!("daemon RSS: {baseline} KiB idle, {peak} KiB with 800 connections, {after} KiB after they closed");
    assert!(peak > baseline + 4096, "the burst is visible: {baseline} -> {peak} KiB");
    // What a connection leaves behind would grow with every burst: a second one settles
    // where the first did, give or take a tenth of a burst.
    let (again, settled) = burst(&|peak| after + (peak - baseline) / 10);
    eprintln!("a second burst: {again} KiB, {settled} KiB after");
}

/// `n` tools named `{prefix}{i}`, each with `patterns` distinct regexes.
fn costly_tools(prefix: &str, n: usize, patterns: usize) -> Value {
    let tools: Vec<Value> = (0..n)
        .map(|t| {
            let properties: serde_json::Map<String, Value> = (0..patterns)
                .map(|p| {
                    (
                        format!("f{p}"),
                        json!({"type": "string", "pattern": format!("^\\w+@[a-z0-9-]+\\.{t}x{p}[a-z]{{2,6}}$")}),
                    )
                })
                .collect();
            json!({"name": format!("{prefix}{t}"), "parameters": {"type": "object", "properties": properties}})
        })
        .collect();
    Value::Array(tools)
}

fn limit_of(error: &tether_client::ClientError) -> String {
    match error {
        tether_client::ClientError::Rpc(e) => e.data.as_ref().map_or(String::new(), |d| d["limit"].to_string()),
        other => panic!("{other}"),
    }
}

/// Before bounding, 256 tools with 100 patterns each (a 1.7 MiB message) cost ~710 MiB
/// per connection, and four connections left the daemon at 2.85 GiB after they closed.
/// Now the attack is refused before anything compiles, and a connection filling its
/// whole regex budget (`runs.max_tool_patterns_per_connection`) costs a bounded amount
/// that comes back when it closes. Measured on the real daemon (`Daemon`), not this process.
#[test]
fn rss_stays_bounded_while_four_connections_register_costly_tool_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let pid = daemon.child.id();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let baseline = rss_kib(pid);
    let defaults = tether_runs::RunsConfig::default();
    let per_tool = defaults.max_tool_patterns;
    let fill = defaults.max_tool_patterns_per_connection / per_tool;
    let (attacked, peak) = runtime.block_on(async {
        let mut open = Vec::new();
        for _ in 0..4 {
            let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
            let refused = client.call_raw("tools.register", costly_tools("t", 256, 100)).await.unwrap_err();
            assert_eq!(refused.code(), Some(-32602), "{refused}");
            assert_eq!(limit_of(&refused), "\"runs.max_tool_patterns\"", "{refused}");
            open.push(client);
        }
        let attacked = rss_kib(pid);
        // Within the bounds: each connection compiles its whole budget, then one more is refused.
        for (c, client) in open.iter().enumerate() {
            let tools = costly_tools(&format!("c{c}-"), fill, per_tool);
            assert_eq!(client.call_raw("tools.register", tools).await.unwrap(), fill);
            let more = client.call_raw("tools.register", costly_tools("more", 1, 1)).await.unwrap_err();
            assert_eq!(limit_of(&more), "\"runs.max_tool_patterns_per_connection\"", "{more}");
        }
        let peak = rss_kib(pid);
        for client in &open {
            client.close();
        }
        drop(open);
        (attacked, peak)
    });
    let after = runtime.block_on(async {
        wait_until("every connection closed", async || http_get(daemon.addr, "/healthz").await.1["connections"] == 0)
            .await;
        let mut after = rss_kib(pid);
        // Half of what the budgets cost comes back; the rest is the allocator's.
        let settled = async || {
            after = rss_kib(pid);
            after < baseline + (peak - baseline) / 2 + 1024
        };
        wait_until("the daemon gives the compiled schemas' memory back", settled).await;
        after
    });
    eprintln!(
        "daemon RSS: {baseline} KiB idle, {attacked} KiB after 4 refused attacks, {peak} KiB with 4 full budgets, {after} KiB after they closed"
    );
    // What a refused attack leaves is its 1.7 MiB message decoded (about 13 MiB each),
    // freed and reused by what follows: nothing was compiled.
    assert!(attacked < baseline + 96 * 1024, "4 refused registrations: {baseline} -> {attacked} KiB");
    // About 20 MiB per full budget (1024 regexes) in a debug build.
    assert!(peak < baseline + 160 * 1024, "4 full budgets stay under 160 MiB: {baseline} -> {peak} KiB");
}
