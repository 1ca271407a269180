//! Fork, replay, diff and budgets end to end: the real binary, real sockets, a
//! restart in between, and a budget approval settled through `approvals.resolve`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

/// A harness with `double` (n → 2n; once `fixed`, 7 → 15) and `echo`.
async fn harness(daemon: &Daemon, fixed: Arc<AtomicBool>) -> Client {
    let client = Client::builder(&daemon.url)
        .token(daemon.token())
        .on_request("tools.execute", move |params: Value| {
            let fixed = fixed.load(Ordering::SeqCst);
            async move {
                let n = params["parameters"]["n"].as_i64().unwrap_or(0);
                match params["tool"].as_str() {
                    Some("double") if n == 7 && fixed => Ok(json!({"total": 15})),
                    Some("double") => Ok(json!({"total": n * 2})),
                    _ => Ok(params["parameters"].clone()),
                }
            }
        })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "double"}, {"name": "echo"}])).await.unwrap();
    client
}

fn proposal(id: &str, ns: &[i64], usage: Option<Value>) -> Value {
    let actions: Vec<Value> = ns
        .iter()
        .enumerate()
        .map(|(k, n)| json!({"id": format!("a{}", k + 1), "type": "tool_call", "tool": "double", "parameters": {"n": n}}))
        .collect();
    let mut p = json!({"proposal": {"id": id, "actions": actions}});
    if let Some(usage) = usage {
        p["usage"] = usage;
    }
    p
}

async fn turns(client: &Client, run_id: &str) -> Vec<Value> {
    let page = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    page["records"].as_array().unwrap().iter().filter(|r| r["record"] == "turn").cloned().collect()
}

fn statuses(result: &Value) -> Vec<String> {
    result["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn fork_replay_and_diff_over_the_wire_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let fixed = Arc::new(AtomicBool::new(false));
    let client = harness(&daemon, fixed.clone()).await;
    let started = client.call_raw("runs.start", json!({"intent": "sum", "agent_id": "bot"})).await.unwrap();
    let source = started["run_id"].as_str().unwrap().to_owned();
    for (p, n) in [("p1", 1), ("p2", 7), ("p3", 3)] {
        assert_eq!(
            statuses(&client.call_raw("proposal.submit", proposal(p, &[n], None)).await.unwrap()),
            ["succeeded"]
        );
    }
    let forked = client.call_raw("runs.fork", json!({"run_id": source, "turns": 2})).await.unwrap();
    let fork = forked["run_id"].as_str().unwrap().to_owned();
    assert_eq!(forked["forked_from"], json!({"run_id": source, "turns": 2}));
    client.call_raw("proposal.submit", proposal("p4", &[5], None)).await.unwrap();
    drop(client);
    drop(daemon);

    // A restart: the fork, its inherited turns and its own are all still there.
    let daemon = Daemon::spawn(dir.path(), &[]);
    fixed.store(true, Ordering::SeqCst);
    let client = harness(&daemon, fixed.clone()).await;
    let got = turns(&client, &fork).await;
    let inherited: Vec<bool> = got.iter().map(|t| t["inherited"] == true).collect();
    assert_eq!(inherited, [true, true, false]);
    let page = client.call_raw("runs.get_trace", json!({"run_id": fork})).await.unwrap();
    assert_eq!(page["records"][0]["forked_from"]["turns"], 2);
    let detail = client.call_raw("runs.get", json!({"run_id": fork})).await.unwrap();
    assert_eq!(detail["forked_from"]["run_id"], source);
    assert_eq!(detail["turn_count"], 3);
    assert_eq!(turns(&client, &source).await.len(), 3, "the source is untouched");

    // The replay after a fix: exactly the fixed action is `changed`, at its path.
    let replayed = client.call_raw("runs.replay", json!({"run_id": source})).await.unwrap();
    let diff = &replayed["diff"];
    assert_eq!(diff["counts"], json!({"same": 2, "changed": 1, "only_in_a": 0, "only_in_b": 0}));
    assert_eq!(diff["pairs"][1]["verdict"], "changed");
    assert_eq!(diff["pairs"][1]["changes"], json!([{"path": "/output/total", "a": 14, "b": 15}]));
    let replay = replayed["run_id"].as_str().unwrap();
    let detail = client.call_raw("runs.get", json!({"run_id": replay})).await.unwrap();
    assert_eq!(detail["replay_of"], source);
    assert_eq!(detail["status"], "completed");

    let same = client.call_raw("runs.diff", json!({"run_id": source, "other_run_id": source})).await.unwrap();
    assert_eq!(same["counts"]["same"], 3);
    let forked_diff = client.call_raw("runs.diff", json!({"run_id": source, "other_run_id": fork})).await.unwrap();
    // The fork's own turn (p4's a1) pairs with the source's third a1, whose output differs.
    assert_eq!(forked_diff["counts"], json!({"same": 2, "changed": 1, "only_in_a": 0, "only_in_b": 0}));

    // An agent-bound connection of another agent can neither fork nor diff the run.
    let eve = Client::builder(&daemon.url).token(daemon.token()).agent_id("eve").connect().await.unwrap();
    let refused = eve.call_raw("runs.fork", json!({"run_id": source})).await.unwrap_err();
    assert!(refused.to_string().contains("not yours"), "{refused}");
    let refused = eve.call_raw("runs.diff", json!({"run_id": source, "other_run_id": source})).await.unwrap_err();
    assert!(refused.to_string().contains("not yours"), "{refused}");
}

/// The newest pending approval of kind `budget`, waited for.
async fn pending_budget(operator: &Client) -> Value {
    let mut found = None;
    wait_until("a pending budget approval", async || {
        let listed = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        found = listed.as_array().unwrap().iter().find(|a| a["kind"] == "budget").cloned();
        found.is_some()
    })
    .await;
    found.unwrap()
}

#[tokio::test]
async fn a_budget_holds_on_an_approval_the_operator_settles() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon, Arc::default()).await;
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let started = client
        .call_raw("runs.start", json!({"intent": "b", "agent_id": "bot", "budget": {"max_tool_calls": 2}}))
        .await
        .unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let usage = json!({"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.25});
    let submitting = {
        let client = client.clone();
        tokio::spawn(async move { client.call_raw("proposal.submit", proposal("p1", &[1, 2, 3], Some(usage))).await })
    };
    let approval = pending_budget(&operator).await;
    assert_eq!(approval["input"]["run_id"], run_id);
    assert_eq!(approval["input"]["limit"], "max_tool_calls");
    assert_eq!(approval["input"]["usage"]["tool_calls"], 2);
    assert_eq!(approval["agent_id"], "bot");
    let id = approval["approval_id"].as_str().unwrap();
    let resolved = operator
        .call_raw("approvals.resolve", json!({"approval_id": id, "decision": "allow", "raise": 1}))
        .await
        .unwrap();
    assert_eq!(resolved["raise"], 1.0);
    let result = submitting.await.unwrap().unwrap();
    assert_eq!(statuses(&result), ["succeeded", "succeeded", "succeeded"]);

    let submitting = {
        let client = client.clone();
        tokio::spawn(async move { client.call_raw("proposal.submit", proposal("p2", &[4], None)).await })
    };
    let approval = pending_budget(&operator).await;
    let id = approval["approval_id"].as_str().unwrap();
    operator
        .call_raw("approvals.resolve", json!({"approval_id": id, "decision": "deny", "reason": "enough"}))
        .await
        .unwrap();
    let result = submitting.await.unwrap().unwrap();
    assert_eq!(statuses(&result), ["rejected"]);
    let error = result["results"][0]["error"].as_str().unwrap();
    assert!(error.contains("budget max_tool_calls = 3") && error.contains("enough"), "{error}");

    let detail = client.call_raw("runs.get", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(detail["status"], "budget_exceeded");
    assert_eq!(detail["usage"]["tool_calls"], 3);
    assert_eq!(detail["usage"]["input_tokens"], 100);
    assert_eq!(detail["usage"]["cost_usd"], 0.25);
    assert_eq!(detail["budget"]["max_tool_calls"], 3);
    let listed = client.call_raw("runs.list", json!({"agent_id": "bot"})).await.unwrap();
    assert_eq!(listed["runs"][0]["status"], "budget_exceeded");
    // The ended record is an outcome a CAR client reads: `failure`, plus the breach.
    let page = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    let ended = page["records"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ended["termination"]["kind"], "outcome");
    assert_eq!(ended["termination"]["status"], "failure");
    assert_eq!(ended["termination"]["budget_exceeded"]["limit"], "max_tool_calls");
    drop(client);
    drop(operator);
    drop(daemon);

    // Across a restart: status, raised budget and usage read the same.
    let daemon = Daemon::spawn(dir.path(), &[]);
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let again = operator.call_raw("runs.get", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(again["status"], "budget_exceeded");
    assert_eq!(again["usage"]["tool_calls"], 3);
    assert_eq!(again["budget"]["max_tool_calls"], 3);
}

/// A replay's progress is visible while it runs: its `run.started` event names the
/// source, and `runs.subscribe` of the new run streams each replayed turn, then its end.
#[tokio::test]
async fn a_replay_in_progress_is_followed_by_subscribing_to_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = Client::builder(&daemon.url)
        .token(daemon.token())
        .on_request("tools.execute", |params: Value| async move {
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            Ok(params["parameters"].clone())
        })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    let started = client.call_raw("runs.start", json!({"intent": "slow", "agent_id": "bot"})).await.unwrap();
    let source = started["run_id"].as_str().unwrap().to_owned();
    for n in 0..10 {
        let action = json!({"id": "a1", "type": "tool_call", "tool": "echo", "parameters": {"n": n}});
        client.call_raw("proposal.submit", json!({"proposal": {"actions": [action]}})).await.unwrap();
    }

    let watcher = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    watcher.call_raw("events.subscribe", json!({"families": ["runtime.status"]})).await.unwrap();
    let replaying = {
        let client = client.clone();
        let source = source.clone();
        tokio::spawn(async move { client.call_raw("runs.replay", json!({"run_id": source})).await })
    };
    let replay = loop {
        let note = watcher.next_notification().await.unwrap();
        let event = &note.params["event"];
        if event["kind"] == "run.started" && event["payload"]["intent"] == format!("replay of {source}") {
            break event["run_id"].as_str().unwrap().to_owned();
        }
    };
    let subscribed = watcher.call_raw("runs.subscribe", json!({"run_id": replay})).await.unwrap();
    assert_eq!(subscribed["status"], "in_progress", "subscribed while the replay runs");
    let mut seen = subscribed["snapshot"].as_array().unwrap().iter().filter(|r| r["record"] == "turn").count();
    loop {
        let note = watcher.next_notification().await.unwrap();
        if note.method != "runs.trace.event" {
            continue;
        }
        match note.params["record"]["record"].as_str() {
            Some("turn") => seen += 1,
            Some("ended") => break,
            _ => {}
        }
    }
    assert_eq!(seen, 10, "every replayed turn, live");
    let done = replaying.await.unwrap().unwrap();
    assert_eq!(done["run_id"], replay.as_str());
    assert_eq!(done["diff"]["counts"]["same"], 10);
}
