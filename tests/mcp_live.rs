//! The MCP server's live parts, driven by the official Python SDK (`tests/mcp/client.py`):
//! `approval_request` in 2026-07-28's `input_required` rounds, the operator-only
//! `approval_resolve`, and resource subscriptions (`resources/subscribe` and
//! `subscriptions/listen`) that notify when a run changes over the WebSocket.

mod common;
#[path = "mcp/support.rs"]
mod support;

use common::*;
use serde_json::{Value, json};
use support::*;
use tether_client::Client;

async fn operator(daemon: &Daemon) -> Client {
    Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap()
}

/// The pending `AgentRequest` approval's id, once there is one.
async fn pending_question(operator: &Client) -> Value {
    let mut id = Value::Null;
    wait_until("the question is pending", async || {
        let list = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        let found = list.as_array().unwrap().iter().find(|a| a["event"] == "AgentRequest");
        found.map(|a| id = a["approval_id"].clone()).is_some()
    })
    .await;
    id
}

/// A 2026-07-28 client is answered `input_required` while nobody has answered, retries
/// with the `requestState`, and gets the decision in the round after the operator's.
#[tokio::test]
async fn approval_request_answers_input_required_until_the_operator_decides_on_a_2026_client() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let mut plan = stdio_plan(&daemon, "auto", &["--approval-round-ms", "300"], json!([]));
    plan["rounds"] = json!(["approval_request", {"question": "may I deploy?"}]);
    let asking = Running::start(&plan);
    // The client says so once the first round has ended unanswered.
    assert_eq!(asking.next()["ready"], true);
    let operator = operator(&daemon).await;
    let id = pending_question(&operator).await;
    let resolve = json!({"approval_id": id, "decision": "allow", "reason": "go ahead"});
    operator.call_raw("approvals.resolve", resolve).await.unwrap();
    let answer = asking.next();
    assert_eq!(answer["protocol"], "2026-07-28");
    let rounds = answer["rounds"].as_array().unwrap();
    assert_eq!(rounds[0], "input_required", "{answer}");
    assert_eq!(rounds.last().unwrap(), "complete", "{answer}");
    assert_eq!(answer["state"], format!("tether-approval:{}", id.as_str().unwrap()), "the state names the approval");
    let result = &answer["result"]["structuredContent"];
    assert_eq!((&result["state"], &result["reason"]), (&json!("allowed"), &json!("go ahead")), "{answer}");
    assert_eq!(result["approval_id"], id);
}

/// The operator's identity lists `approval_resolve` and settles an agent's question with it.
#[tokio::test]
async fn the_operator_lists_approval_resolve_and_settles_a_pending_approval_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let asker = operator(&daemon).await;
    let asking = tokio::spawn(async move {
        asker.call_raw("approvals.request", json!({"question": "may I merge?", "wait_ms": 60_000})).await
    });
    let id = pending_question(&operator(&daemon).await).await;
    let calls = json!([["approval_resolve", {"approval_id": id, "decision": "deny", "reason": "CI is red"}]]);
    for (mode, transport) in [("auto", "stdio"), ("legacy", "http")] {
        let plan = match transport {
            "stdio" => stdio_plan(&daemon, mode, &[], calls.clone()),
            _ => json!({
                "mode": mode,
                "url": format!("http://{}/mcp", daemon.addr),
                "headers": {"Authorization": format!("Bearer {}", daemon.token())},
                "calls": [],
            }),
        };
        let answer = mcp_client(&plan);
        assert_eq!(tool_names(&answer), operator_tool_names(), "{transport}");
        let resolve = answer["tools"].as_array().unwrap().iter().find(|t| t["name"] == "approval_resolve").unwrap();
        assert_eq!(resolve["annotations"]["readOnlyHint"], false, "{resolve}");
        assert_eq!(resolve["inputSchema"]["required"], json!(["approval_id", "decision"]), "{resolve}");
        if transport == "stdio" {
            let result = &answer["results"][0];
            assert!(result.get("isError").is_none_or(|e| e == false), "{result}");
            assert_eq!(result["structuredContent"]["state"], "denied", "{result}");
        }
    }
    let asked = asking.await.unwrap().unwrap();
    assert_eq!((&asked["state"], &asked["reason"]), (&json!("denied"), &json!("CI is red")), "{asked}");
}

/// A session's identity (its own token, over stdio and over HTTP) does not see
/// `approval_resolve`, and calling it anyway is refused without settling anything.
#[tokio::test]
async fn a_session_identity_neither_lists_nor_may_call_approval_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let asker = operator(&daemon).await;
    let _asking = tokio::spawn(async move {
        asker.call_raw("approvals.request", json!({"question": "may I merge?", "wait_ms": 60_000})).await
    });
    let operator = operator(&daemon).await;
    let id = pending_question(&operator).await;
    let calls = json!([["approval_resolve", {"approval_id": id, "decision": "allow"}]]);
    let stdio = json!({
        "mode": "auto",
        "command": env!("CARGO_BIN_EXE_tether"),
        "args": ["mcp"],
        "inherit_env": ["TETHER_URL", "TETHER_TOKEN"],
        "calls": calls,
    });
    let http = json!({
        "mode": "auto",
        "url": format!("http://{}/mcp", daemon.addr),
        "bearer_env": "TETHER_TOKEN",
        "calls": calls,
    });
    for plan in [stdio, http] {
        let answer = in_session(&daemon, &plan).await;
        assert_eq!(tool_names(&answer), tether_mcp::TOOL_NAMES, "no resolving tool for an agent: {plan}");
        let refused = &answer["results"][0];
        assert_eq!(refused["isError"], true, "{refused}");
        assert_eq!(refused["structuredContent"]["error"]["code"], "mcp_operator_only", "{refused}");
        assert!(refused["content"][0]["text"].as_str().unwrap().contains("operator"), "{refused}");
    }
    let still = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    assert!(still.as_array().unwrap().iter().any(|a| a["approval_id"] == id), "nothing settled it: {still}");
}

/// Subscribed to a run (2025-11-25's `resources/subscribe`, 2026-07-28's
/// `subscriptions/listen`), the client hears `notifications/resources/updated` when the
/// run changes over the WebSocket.
#[tokio::test]
async fn a_subscribed_run_notifies_the_client_when_it_changes_over_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    for (mode, how) in [("legacy", "subscribe"), ("auto", "listen")] {
        let harness = echo_harness(&daemon, &[]).await;
        let started = harness.call_raw("runs.start", json!({"intent": "watched", "agent_id": "w"})).await.unwrap();
        let run_id = started["run_id"].as_str().unwrap().to_owned();
        let uri = format!("tether://runs/{run_id}");
        let mut plan = stdio_plan(&daemon, mode, &[], json!([]));
        plan["watch"] = json!({"how": how, "uris": [uri, "tether://elsewhere"]});
        let watching = Running::start(&plan);
        let ready = watching.next();
        assert_eq!(ready["ready"], true, "{ready}");
        if how == "subscribe" {
            // The one that is not a tether resource is refused; the run is watched.
            assert_eq!(ready["refused"].as_array().unwrap().len(), 1, "{ready}");
        }
        harness.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await.unwrap();
        let answer = watching.next();
        assert_eq!(answer["updated"][0], uri, "{how}: {answer}");
        if how == "listen" {
            assert_eq!(answer["honored"], json!([uri]), "only tether's resources are honoured: {answer}");
        }
    }
}

/// Past `--max-subscriptions` (`[mcp] max_subscriptions`) a watch is refused, naming the limit.
#[tokio::test]
async fn watches_past_the_limit_are_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = daemon(dir.path());
    let (_harness, run_id) = a_run(&daemon).await;
    let uris = json!([format!("tether://runs/{run_id}"), format!("tether://runs/{run_id}/trace")]);
    for (mode, how) in [("legacy", "subscribe"), ("auto", "listen")] {
        let mut plan = stdio_plan(&daemon, mode, &["--max-subscriptions", "1"], json!([]));
        plan["watch"] = json!({"how": how, "uris": uris, "only_ready": true});
        let watching = Running::start(&plan);
        let ready = watching.next();
        let refused = ready["refused"].as_array().unwrap();
        assert_eq!(refused.len(), 1, "{how}: {ready}");
        let why = refused[0].as_str().unwrap();
        assert!(why.contains("max_subscriptions = 1") && why.contains("at most 1"), "{how}: {why}");
    }
}
