//! The MCP server, driven by a client we did not write: the official Python SDK (`mcp`
//! on PyPI, `tests/mcp/client.py`), over stdio to `tether mcp`, in both protocol
//! generations (2025-11-25's initialize handshake and 2026-07-28's server/discover).

mod common;
#[path = "mcp/support.rs"]
mod support;

use common::*;
use serde_json::{Value, json};
use support::*;
use tether_client::Client;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn text_of(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn both_protocol_generations_list_the_tools_and_read_runs_and_the_policy_over_stdio() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let (harness, run_id) = a_run(&daemon).await;
    let trace = harness.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let calls = json!([
            ["runs_list", {"limit": 10, "agent_id": "builder"}],
            ["run_get", {"run_id": run_id}],
            ["run_trace", {"run_id": run_id}],
            ["policy_check", {"tool_name": "Bash", "tool_input": {"command": "rm -rf /"}}],
            ["policy_check", {"tool_name": "Bash", "tool_input": {"command": "ls"}}],
            ["run_trace", {"run_id": "01ZZZZZZZZZZZZZZZZZZZZZZZZ"}],
            ["session_spawn", {"task": "t", "command": ["true"]}],
            ["run_start", {"intent": "traced", "agent_id": "mcp-traced"}, {"traceparent": TRACEPARENT}],
        ]);
        let answer = mcp_client(&stdio_plan(&daemon, mode, &[], calls));
        assert_eq!(answer["protocol"], protocol, "{mode}");
        assert_eq!(tool_names(&answer), operator_tool_names(), "{mode}: the operator's token sees its own tools too");
        assert_eq!(answer["capabilities"]["resources"]["subscribe"], true, "{mode}: the stdio bridge offers them");
        let runs_list = &answer["tools"][0];
        assert_eq!(runs_list["annotations"]["readOnlyHint"], true, "{runs_list}");
        assert_eq!(runs_list["inputSchema"]["type"], "object");
        assert_eq!(runs_list["outputSchema"]["type"], "object");
        let stop = answer["tools"].as_array().unwrap().iter().find(|t| t["name"] == "session_stop").unwrap();
        assert_eq!(stop["annotations"]["destructiveHint"], true, "{stop}");

        let results = answer["results"].as_array().unwrap();
        let listed = &results[0]["structuredContent"]["runs"];
        assert!(listed.as_array().unwrap().iter().any(|r| r["run_id"] == run_id), "{mode}: {listed}");
        assert_eq!(results[1]["structuredContent"]["run_id"], run_id, "{mode}: {}", results[1]);
        assert_eq!(results[1]["structuredContent"]["records"].as_array().unwrap().len(), 1);
        assert_eq!(results[2]["structuredContent"], trace, "{mode}: run_trace is runs.get_trace");
        assert_eq!(results[3]["structuredContent"]["decision"], "deny", "{mode}: {}", results[3]);
        assert_eq!(results[3]["structuredContent"]["rule"], "no-recursive-delete");
        assert_eq!(results[4]["structuredContent"]["decision"], "none", "{mode}: {}", results[4]);
        // `_meta.traceparent` (SEP-414): the run joins the MCP client's trace.
        let traced = results[7]["structuredContent"]["run_id"].as_str().unwrap_or_else(|| panic!("{}", results[7]));
        let started = harness.call_raw("runs.get_trace", json!({"run_id": traced})).await.unwrap();
        assert_eq!(started["records"][0]["traceparent"], TRACEPARENT, "{mode}: {started}");
        // A run that is not there is a result the agent reads, not a protocol error.
        assert_eq!(results[5]["isError"], true, "{mode}: {}", results[5]);
        assert_eq!(results[5]["structuredContent"]["not_found"], true);
        assert_eq!(results[6]["isError"], true, "{mode}: {}", results[6]);
        assert!(text_of(&results[6]).contains("allow_spawn"), "the refusal says how to enable it: {}", results[6]);
    }
}

#[tokio::test]
async fn session_spawn_works_once_the_operator_enables_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let cwd = tempfile::tempdir().unwrap();
    let calls = json!([["session_spawn", {"task": "hello", "command": ["sh", "-c", "echo hi"], "cwd": cwd.path()}]]);
    let answer = mcp_client(&stdio_plan(&daemon, "auto", &["--allow-spawn"], calls));
    let spawned = &answer["results"][0];
    assert!(spawned.get("isError").is_none_or(|e| e == false), "{spawned}");
    let id = spawned["structuredContent"]["session_id"].as_str().expect("a session record").to_owned();
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let record = operator.call_raw("sessions.get", json!({"session_id": id})).await.unwrap();
    assert_eq!(record["task"], "hello");
}

/// The agent's own view: the bridge started inside a managed session carries the
/// session's token, so it sees the session's runs only, and the operator's run not at all.
#[tokio::test]
async fn inside_a_session_the_bridge_sees_only_the_sessions_own_runs() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let (_harness, operator_run) = a_run(&daemon).await;
    let plan = json!({
        "mode": "auto",
        "command": env!("CARGO_BIN_EXE_tether"),
        "args": ["mcp"],
        "inherit_env": ["TETHER_URL", "TETHER_TOKEN"],
        "calls": [
            ["run_start", {"intent": "the session's own"}],
            ["runs_list", {}],
            ["run_trace", {"run_id": operator_run}],
            ["approvals_list", {}],
        ],
    });
    let answer = in_session(&daemon, &plan).await;
    let id = answer["session_id"].as_str().unwrap().to_owned();
    let results = answer["results"].as_array().unwrap();
    let own = results[0]["structuredContent"]["run_id"].as_str().expect("run_start answers a run id").to_owned();
    let runs = results[1]["structuredContent"]["runs"].as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [own.as_str()], "only the session's own run: {}", results[1]);
    assert_eq!(runs[0]["agent_id"], format!("session:{id}"));
    assert_eq!(results[2]["isError"], true, "another agent's run is not the session's to read: {}", results[2]);
    assert_eq!(results[2]["structuredContent"]["not_found"], true, "nor is its existence: {}", results[2]);
    assert_eq!(results[3]["isError"], true, "approvals are the operator's: {}", results[3]);
}

/// `/mcp` on the daemon's own port (Streamable HTTP), with the bearer token: the same
/// tools and answers as over stdio, in both protocol generations.
#[tokio::test]
async fn over_http_on_the_daemon_both_generations_read_runs_as_the_bearer() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let (harness, run_id) = a_run(&daemon).await;
    let trace = harness.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let plan = json!({
            "mode": mode,
            "url": format!("http://{}/mcp", daemon.addr),
            "headers": {"Authorization": format!("Bearer {}", daemon.token())},
            "calls": [
                ["runs_list", {"agent_id": "builder"}],
                ["run_trace", {"run_id": run_id}],
                ["policy_check", {"tool_name": "WebFetch", "tool_input": {"url": "https://example.com"}}],
            ],
        });
        let answer = mcp_client(&plan);
        assert_eq!(answer["protocol"], protocol, "{mode}");
        assert_eq!(tool_names(&answer), operator_tool_names(), "{mode}: the operator's token sees its own tools too");
        // Stateless and answering JSON, /mcp has no stream to notify on: it offers no subscriptions.
        assert!(answer["capabilities"]["resources"].get("subscribe").is_none_or(|s| s == false), "{mode}: {answer}");
        let results = answer["results"].as_array().unwrap();
        let listed = results[0]["structuredContent"]["runs"].as_array().unwrap();
        assert!(listed.iter().any(|r| r["run_id"] == run_id), "{mode}: {}", results[0]);
        assert_eq!(results[1]["structuredContent"], trace, "{mode}");
        assert_eq!(results[2]["structuredContent"]["decision"], "ask", "{mode}: {}", results[2]);
        assert_eq!(results[2]["structuredContent"]["rule"], "ask-before-fetching");
    }
}

#[tokio::test]
async fn http_mcp_needs_the_token_and_refuses_a_foreign_origin() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).to_string();
    let post = |headers: String| {
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}Content-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let (status, _) = http_raw(daemon.addr, post(String::new())).await;
    assert_eq!(status, 401, "no token");
    let (status, _) = http_raw(daemon.addr, post("Authorization: Bearer not-the-token\r\n".into())).await;
    assert_eq!(status, 401, "a wrong token");
    let auth = format!("Authorization: Bearer {}\r\n", daemon.token());
    let (status, why) = http_raw(daemon.addr, post(format!("{auth}Origin: https://evil.example\r\n"))).await;
    assert_eq!(status, 403, "a foreign Origin: {why}");
}

/// An agent asks its human over MCP; the operator answers over the WebSocket and the
/// agent's call returns the answer. A client of 2025-11-25 cannot be told
/// `input_required`: its one call waits (2026-07-28's rounds are in `mcp_live.rs`).
#[tokio::test]
async fn approval_request_waits_for_the_operators_answer_on_an_older_client() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let calls = json!([["approval_request", {"question": "may I push to main?", "detail": {"branch": "main"}}]]);
    // Rounds far shorter than the wait: an older client's call must hold through them.
    let plan = stdio_plan(&daemon, "legacy", &["--approval-round-ms", "100"], calls);
    let asking = std::thread::spawn(move || mcp_client(&plan));
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let mut id = Value::Null;
    wait_until("the question is pending and waited on", async || {
        let list = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        let found = list.as_array().unwrap().iter().find(|a| a["event"] == "AgentRequest" && a["waiting"] == true);
        found.map(|a| id = a["approval_id"].clone()).is_some()
    })
    .await;
    let approval = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    assert_eq!(approval[0]["input"]["question"], "may I push to main?");
    let resolve = json!({"approval_id": id, "decision": "deny", "reason": "not on a Friday"});
    operator.call_raw("approvals.resolve", resolve).await.unwrap();
    let answer = asking.join().unwrap();
    assert_eq!(answer["protocol"], "2025-11-25");
    let result = &answer["results"][0];
    assert_eq!(result["structuredContent"]["state"], "denied", "{result}");
    assert_eq!(result["structuredContent"]["reason"], "not on a Friday");
    assert_eq!(result["structuredContent"]["approval_id"], id);
}

/// Resources read through their methods, and prompts that assemble a trace or an approval.
#[tokio::test]
async fn resources_and_prompts_read_what_the_methods_answer() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let (harness, run_id) = a_run(&daemon).await;
    let trace = harness.call_raw("runs.get_trace", json!({"run_id": run_id, "limit": 200})).await.unwrap();
    let mut plan = stdio_plan(&daemon, "auto", &[], json!([]));
    plan["read"] = json!([
        format!("tether://runs/{run_id}/trace"),
        "tether://approvals/pending",
        "tether://runs/01ZZZZZZZZZZZZZZZZZZZZZZZZ",
        "tether://elsewhere",
    ]);
    plan["prompts"] = json!([["triage_failed_run", {"run_id": run_id}]]);
    let answer = mcp_client(&plan);
    let templates: Vec<&str> = answer["templates"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(
        templates,
        [
            "tether://runs/{run_id}",
            "tether://runs/{run_id}/trace",
            "tether://sessions/{session_id}",
            "tether://approvals/pending"
        ]
    );
    let reads = answer["reads"].as_array().unwrap();
    let text = reads[0]["contents"][0]["text"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), trace);
    assert_eq!(reads[0]["contents"][0]["mimeType"], "application/json");
    assert_eq!(serde_json::from_str::<Value>(reads[1]["contents"][0]["text"].as_str().unwrap()).unwrap(), json!([]));
    assert!(reads[2]["error"].as_str().unwrap().contains("not there"), "{}", reads[2]);
    assert!(reads[3]["error"].as_str().unwrap().contains("no tether resource"), "{}", reads[3]);
    let prompts = answer["prompts"].as_array().unwrap();
    assert_eq!(prompts[0], json!(["triage_failed_run", "review_pending_approval"]));
    let message = prompts[1]["messages"][0]["content"]["text"].as_str().unwrap();
    assert!(message.contains(&run_id) && message.contains("\"record\": \"turn\""), "{message}");
}
