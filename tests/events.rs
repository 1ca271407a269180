//! The event stream: real emitters, filtering, authorisation, slow subscribers.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tether_client::Client;
use tokio_tungstenite::tungstenite::Message;

async fn next_event(client: &Client) -> Value {
    let notice = tokio::time::timeout(PATIENCE, client.next_notification()).await.expect("an event in time").unwrap();
    assert_eq!(notice.method, "events.event");
    notice.params["event"].clone()
}

#[tokio::test]
async fn every_advertised_family_has_a_real_emitter() {
    let server = TestServer::start_setup(
        Setup {
            hooks: tether_hooks::HooksConfig { policy_file: Some(policy_fixture()), ..Default::default() },
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let watcher = server.connect().await;
    let subscribed = watcher.call_raw("events.subscribe", json!({})).await.unwrap();
    assert!(subscribed["subscription"].as_str().unwrap().starts_with("sub-"));

    let agent = server
        .client()
        .on_request("tools.execute", |p: Value| async move { Ok(p["parameters"].clone()) })
        .connect()
        .await
        .unwrap();
    agent.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    let run = agent.call_raw("runs.start", json!({"intent": "emit", "agent_id": "emitter"})).await.unwrap();
    let actions = json!([{"type": "tool_call", "tool": "echo", "parameters": {}}]);
    agent.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await.unwrap();
    agent.call_raw("runs.complete", json!({"run_id": run["run_id"], "outcome": {"status": "done"}})).await.unwrap();
    agent
        .call_raw(
            "hooks.ingest",
            json!({"hook_event_name": "PreToolUse", "session_id": "s", "tool_name": "WebFetch", "tool_input": {}}),
        )
        .await
        .unwrap();
    agent.call_raw("memory.report", json!({"session_id": "s", "used_tokens": 95, "window_tokens": 100})).await.unwrap();

    let mut seen = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    while seen.len() < tether_proto::events::FAMILIES.len() {
        let event = next_event(&watcher).await;
        assert!(ulid::Ulid::from_string(event["event_id"].as_str().unwrap()).is_ok());
        assert!(event["timestamp"].as_str().unwrap().contains('T'));
        seen.insert(event["family"].as_str().unwrap().to_owned());
        kinds.insert(event["kind"].as_str().unwrap().to_owned());
    }
    let advertised: BTreeSet<String> = tether_proto::events::FAMILIES.iter().map(|f| f.to_string()).collect();
    assert_eq!(seen, advertised);
    for kind in ["run.started", "run.turn"] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn session_transitions_are_events() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    operator.call_raw("events.subscribe", json!({"families": ["runtime.status"]})).await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let spawned = operator
        .call_raw("sessions.spawn", json!({"task": "t", "command": ["true"], "cwd": cwd.path()}))
        .await
        .unwrap();
    let id = spawned["session_id"].as_str().unwrap();
    let mut kinds = Vec::new();
    while !kinds.contains(&"session.exited".to_owned()) {
        let event = next_event(&operator).await;
        assert_eq!(event["session_id"], id);
        kinds.push(event["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds, ["session.active", "session.exited"]);
}

#[tokio::test]
async fn filters_and_authorisation() {
    let server = TestServer::start().await;
    let alice = server.client().agent_id("alice").connect().await.unwrap();
    let bob = server.client().agent_id("bob").connect().await.unwrap();
    let operator = server.connect().await;
    alice.call_raw("events.subscribe", json!({})).await.unwrap();
    operator.call_raw("events.subscribe", json!({"families": ["runtime.status"]})).await.unwrap();

    let bobs = bob.call_raw("runs.start", json!({"intent": "b"})).await.unwrap();
    let alices = alice.call_raw("runs.start", json!({"intent": "a"})).await.unwrap();
    let (bob_run, alice_run) = (bobs["run_id"].as_str().unwrap(), alices["run_id"].as_str().unwrap());

    // Alice's first event is about her own run: bob's came first but is not hers to see.
    let first = next_event(&alice).await;
    assert_eq!(first["run_id"], alice_run);
    assert_eq!(first["agent_id"], "alice");
    // The operator sees both.
    let ops: Vec<Value> = vec![next_event(&operator).await, next_event(&operator).await];
    let runs: BTreeSet<&str> = ops.iter().map(|e| e["run_id"].as_str().unwrap()).collect();
    assert_eq!(runs, BTreeSet::from([bob_run, alice_run]));

    let scoped = server.connect().await;
    scoped.call_raw("events.subscribe", json!({"run_id": bob_run, "families": ["runtime.status"]})).await.unwrap();
    alice.call_raw("runs.complete", json!({"run_id": alice_run, "outcome": {"status": "done"}})).await.unwrap();
    bob.call_raw("runs.complete", json!({"run_id": bob_run, "outcome": {"status": "done"}})).await.unwrap();
    let only = next_event(&scoped).await;
    assert_eq!((only["run_id"].as_str(), only["kind"].as_str()), (Some(bob_run), Some("run.ended")));

    let recent = bob.call_raw("events.recent", json!({"limit": 1024})).await.unwrap();
    assert!(recent.as_array().unwrap().iter().all(|e| e["agent_id"] == "bob"), "recent is filtered too: {recent}");
    let too_many = bob.call_raw("events.recent", json!({"limit": 1025})).await.unwrap_err();
    assert!(too_many.to_string().contains("params.limit"));
    let mut sub = operator.call_raw("events.subscribe", json!({})).await.unwrap()["subscription"].clone();
    assert_eq!(operator.call_raw("events.unsubscribe", json!({"subscription": sub})).await.unwrap()["ok"], true);
    sub = json!("sub-999999");
    assert_eq!(operator.call_raw("events.unsubscribe", json!({"subscription": sub})).await.unwrap()["ok"], false);
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_never_reads_loses_events_not_the_daemon() {
    let server = TestServer::start().await;
    let mut slow = server.raw_session().await;
    let subscribed = rpc(
        &mut slow,
        json!({"jsonrpc":"2.0","id":1,"method":"events.subscribe","params":{"families":["hooks.event"]}}),
    )
    .await;
    let subscription = subscribed["result"]["subscription"].as_str().unwrap().to_owned();

    let publisher = server.connect().await;
    let before = rss_kib();
    let total = 100_000u64;
    for _ in 0..10 {
        publisher.call_raw("test.publish", json!({"count": total / 10, "bytes": 1024})).await.unwrap();
        // Meanwhile other clients are answered promptly.
        let pong = tokio::time::timeout(Duration::from_secs(2), publisher.call_raw("server.ping", json!({}))).await;
        assert_eq!(pong.expect("prompt").unwrap(), "pong");
    }
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    assert!(grown_mib < 48, "memory grew by {grown_mib} MiB for 100 MiB of events published");

    // The slow subscriber finally reads: what it got, plus what it was told it lost, is everything.
    let mut delivered = 0u64;
    let mut dropped = 0u64;
    while delivered + dropped < total {
        let message = tokio::time::timeout(PATIENCE, slow.next()).await.expect("the stream drains").unwrap().unwrap();
        let Message::Text(text) = message else { continue };
        let notice: Value = serde_json::from_str(text.as_str()).unwrap();
        match notice["method"].as_str() {
            Some("events.event") => delivered += 1,
            Some("events.lagged") => {
                assert_eq!(notice["params"]["subscription"], subscription.as_str());
                dropped += notice["params"]["dropped"].as_u64().unwrap();
            }
            _ => {}
        }
    }
    assert_eq!(delivered + dropped, total);
    assert!(dropped > 0, "a subscriber that never read must have lost events");
    let pong = rpc(&mut slow, json!({"jsonrpc":"2.0","id":2,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong", "the slow connection itself still answers");
}

#[tokio::test]
async fn recent_events_filter_by_run_and_session() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let first = client.call_raw("runs.start", json!({"intent": "a", "agent_id": "f"})).await.unwrap();
    client.call_raw("runs.start", json!({"intent": "b", "agent_id": "f"})).await.unwrap();
    let only = client.call_raw("events.recent", json!({"run_id": first["run_id"]})).await.unwrap();
    let runs: Vec<&Value> = only.as_array().unwrap().iter().map(|e| &e["run_id"]).collect();
    assert!(!runs.is_empty() && runs.iter().all(|r| **r == first["run_id"]), "{only}");
    let none = client.call_raw("events.recent", json!({"session_id": "no-such-session"})).await.unwrap();
    assert_eq!(none, json!([]));
}
