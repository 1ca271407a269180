//! Runs that outlive the daemon (`runs.reattach.v1`), against the real binary and a real
//! kill -9: a reattachable run waits `detached` for its owner, who reclaims it with its
//! resume token; a re-submitted proposal answers what the journal holds and runs only
//! the rest, its calls recognisable by `call_id` and flagged as possible redeliveries.

mod common;

use common::*;
use serde_json::{Value, json};

const CAPS: [&str; 2] = ["runs.resume.v1", "runs.reattach.v1"];

fn kill9(daemon: &mut Daemon) {
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
}

/// A raw connection bound to `agent`, with the given optional capabilities.
async fn agent(daemon: &Daemon, agent: &str, capabilities: &[&str]) -> Ws {
    let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
    let auth =
        json!({"jsonrpc":"2.0","id":"auth","method":"session.auth","params":{"token":daemon.token(),"agent_id":agent}});
    assert_eq!(rpc(&mut ws, auth).await["result"]["ok"], true);
    let hello = json!({"jsonrpc":"2.0","id":"hs","method":"server.handshake",
        "params":{"protocol_version":3,"optional_capabilities":capabilities}});
    rpc(&mut ws, hello).await;
    let tools = json!({"jsonrpc":"2.0","id":"tools","method":"tools.register","params":[{"name":"step"}]});
    rpc(&mut ws, tools).await;
    ws
}

async fn call(ws: &mut Ws, method: &str, params: Value) -> Value {
    rpc(ws, json!({"jsonrpc":"2.0","id":method,"method":method,"params":params})).await
}

/// Submits a proposal, answering each `tools.execute` with `{"ran": <action_id>}`;
/// returns the reply and the params of every call the harness received.
async fn submit(ws: &mut Ws, proposal: Value) -> (Value, Vec<Value>) {
    send(ws, json!({"jsonrpc":"2.0","id":"submit","method":"proposal.submit","params":{"proposal":proposal}})).await;
    let mut calls = Vec::new();
    loop {
        let message = recv(ws).await;
        if message["method"] == "tools.execute" {
            let reply = json!({"jsonrpc":"2.0","id":message["id"],"result":{"ran":message["params"]["action_id"]}});
            send(ws, reply).await;
            calls.push(message["params"].clone());
        } else if message["id"] == "submit" {
            return (message, calls);
        }
    }
}

fn actions(ids: &[&str]) -> Value {
    Value::Array(ids.iter().map(|id| json!({"id": id, "type": "tool_call", "tool": "step"})).collect())
}

async fn status(daemon: &Daemon, run_id: &str) -> String {
    status_of(daemon, "harness", run_id).await
}

async fn status_of(daemon: &Daemon, agent: &str, run_id: &str) -> String {
    let client = tether_client::Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let list = client.call_raw("runs.list", json!({"agent_id": agent})).await.unwrap();
    let run = list["runs"].as_array().unwrap().iter().find(|r| r["run_id"] == run_id).cloned().unwrap();
    run["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_reattachable_run_survives_kill_9_and_its_owner_carries_on_with_each_action_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let mut ws = agent(&daemon, "harness", &CAPS).await;
    let started = call(&mut ws, "runs.start", json!({"intent": "ride through a crash"})).await;
    let run_id = started["result"]["run_id"].as_str().unwrap().to_owned();
    let token = started["result"]["resume_token"].as_str().expect("a resume token").to_owned();
    let (first, calls) = submit(&mut ws, json!({"id": "p1", "actions": actions(&["a1", "a2"])})).await;
    assert_eq!(first["result"]["results"].as_array().unwrap().len(), 2);
    assert_eq!(calls[0]["call_id"], format!("{run_id}:p1:a1:1"));
    assert!(calls[0].get("redelivery").is_none(), "a first delivery is not flagged");

    kill9(&mut daemon);
    let daemon = Daemon::spawn(dir.path(), &[]);
    assert_eq!(status(&daemon, &run_id).await, "detached", "not incomplete: its owner may come back");

    // Another agent cannot see it, the owner needs its token, and the right token works.
    let mut other = agent(&daemon, "intruder", &CAPS).await;
    let refused = call(&mut other, "runs.resume", json!({"run_id": run_id, "resume_token": token})).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let mut ws = agent(&daemon, "harness", &CAPS).await;
    let missing = call(&mut ws, "runs.resume", json!({"run_id": run_id})).await;
    assert_eq!(missing["error"]["code"], -32602, "{missing}");
    let wrong = call(&mut ws, "runs.resume", json!({"run_id": run_id, "resume_token": "trt_nope"})).await;
    assert_eq!(wrong["error"]["code"], -32010, "{wrong}");
    let resumed = call(&mut ws, "runs.resume", json!({"run_id": run_id, "resume_token": token})).await;
    assert_eq!(resumed["result"]["status"], "in_progress", "{resumed}");
    assert_eq!(status(&daemon, &run_id).await, "in_progress");

    // The proposal in flight at the crash, submitted again with one more action: the
    // journalled actions come back from the journal; only the new one runs.
    let (again, calls) = submit(&mut ws, json!({"id": "p1", "actions": actions(&["a1", "a2", "a3"])})).await;
    let results = again["result"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["output"], json!({"ran": "a1"}));
    assert_eq!(calls.len(), 1, "only a3 ran: {calls:?}");
    assert_eq!(calls[0]["action_id"], "a3");
    assert_eq!(calls[0]["redelivery"], true, "a re-submitted proposal's calls may be redeliveries");
    assert_eq!(calls[0]["call_id"], format!("{run_id}:p1:a3:1"));

    let done = call(&mut ws, "runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await;
    assert_eq!(done["result"]["ok"], true, "{done}");
    let trace = call(&mut ws, "runs.get_trace", json!({"run_id": run_id})).await;
    let turns: Vec<&Value> =
        trace["result"]["records"].as_array().unwrap().iter().filter(|r| r["record"] == "turn").collect();
    let ids: Vec<&str> = turns.iter().map(|t| t["action_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a1", "a2", "a3"], "each action once, in order");
    assert_eq!(turns[2]["redelivered"], true);
}

#[tokio::test]
async fn a_detached_run_whose_owner_never_returns_ends_incomplete_after_the_grace_even_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[runs]\nreattach_grace_ms = 400\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut daemon = Daemon::spawn(dir.path(), &args);
    let mut ws = agent(&daemon, "harness", &CAPS).await;
    let started = call(&mut ws, "runs.start", json!({"intent": "abandoned"})).await;
    let run_id = started["result"]["run_id"].as_str().unwrap().to_owned();
    kill9(&mut daemon);
    let mut daemon = Daemon::spawn(dir.path(), &args);
    assert_eq!(status(&daemon, &run_id).await, "detached");
    kill9(&mut daemon); // a second crash inside the grace
    let daemon = Daemon::spawn(dir.path(), &args);
    assert_eq!(status(&daemon, &run_id).await, "detached");
    let run = run_id.clone();
    wait_until("the grace passes", async || status(&daemon, &run).await == "incomplete").await;
}

#[tokio::test]
async fn a_dropped_connection_detaches_a_reattachable_run_and_leaves_others_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let mut reattachable = agent(&daemon, "harness", &CAPS).await;
    let started = call(&mut reattachable, "runs.start", json!({"intent": "keeps"})).await;
    let kept = started["result"]["run_id"].as_str().unwrap().to_owned();
    let mut plain = agent(&daemon, "harness", &[]).await;
    let started = call(&mut plain, "runs.start", json!({"intent": "CAR semantics"})).await;
    assert!(started["result"].get("resume_token").is_none(), "no capability, no token");
    let plain_run = started["result"]["run_id"].as_str().unwrap().to_owned();
    drop(reattachable);
    drop(plain);
    let (a, b) = (kept.clone(), plain_run.clone());
    wait_until("the plain run ends", async || status(&daemon, &b).await == "incomplete").await;
    wait_until("the reattachable run detaches", async || status(&daemon, &a).await == "detached").await;
}

#[tokio::test]
async fn action_ids_within_a_proposal_must_be_unique() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let mut ws = agent(&daemon, "harness", &CAPS).await;
    call(&mut ws, "runs.start", json!({"intent": "x"})).await;
    let (reply, calls) = submit(&mut ws, json!({"id": "p", "actions": actions(&["a", "b", "a"])})).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("repeats"), "{reply}");
    assert!(calls.is_empty(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_harness_rides_a_200_turn_run_through_five_kill_9s_running_each_tool_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tether_client::{Client, Harness, HarnessOptions, ToolFn};
    use tether_proto::proposal::{Action, Proposal};
    use tether_proto::tools::ToolDefinition;

    const TURNS: usize = 200;
    let seed: u64 = std::env::var("TETHER_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000
    });
    println!("chaos seed {seed} (TETHER_CHAOS_SEED={seed} replays it)");
    let mut state = seed;
    let mut random = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut kills: Vec<usize> = Vec::new();
    while kills.len() < 5 {
        let k = 10 + random() % (TURNS - 20);
        if !kills.contains(&k) {
            kills.push(k);
        }
    }
    kills.sort();

    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let socket = daemon.data_dir.join("tether.sock");
    let ran: Arc<Vec<AtomicU32>> = Arc::new((0..TURNS).map(|_| AtomicU32::new(0)).collect());
    let (reached_tx, mut reached) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let body: ToolFn = {
        let ran = ran.clone();
        Arc::new(move |_tool, params| {
            let i = params["i"].as_u64().unwrap() as usize;
            ran[i].fetch_add(1, Ordering::SeqCst);
            let _ = reached_tx.send(i);
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_micros((i as u64 * 37) % 4000)).await;
                Ok(json!(i))
            })
        })
    };
    let builder = Client::builder_unix(&socket).token(daemon.token()).agent_id("rust-chaos");
    let options = HarnessOptions { initial_backoff: std::time::Duration::from_millis(20), ..Default::default() };
    let tools = vec![ToolDefinition { name: "step".into(), description: None, parameters: None }];
    let harness = Harness::connect(builder, tools, body, options).await.unwrap();
    let run_id = harness.start_run("a long run through five crashes").await.unwrap();

    let chaos = {
        let harness = harness.clone();
        let dir = dir.path().to_owned();
        tokio::spawn(async move {
            let mut daemon = daemon;
            for k in kills {
                while reached.recv().await.unwrap() < k {}
                let before = harness.reconnects();
                kill9(&mut daemon);
                let dir = dir.clone();
                daemon = tokio::task::spawn_blocking(move || Daemon::spawn(&dir, &[])).await.unwrap();
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
                while harness.reconnects() == before {
                    assert!(tokio::time::Instant::now() < deadline, "the harness did not reconnect");
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
            daemon
        })
    };
    for i in 0..TURNS {
        let action: Action = serde_json::from_value(
            json!({"id": format!("a{i}"), "type": "tool_call", "tool": "step", "parameters": {"i": i}}),
        )
        .unwrap();
        let proposal = Proposal { id: Some(format!("p{i}")), source: None, actions: vec![action] };
        let result = harness.submit(proposal).await.unwrap();
        assert_eq!(result.results[0].output, Some(json!(i)), "turn {i}");
    }
    let daemon = chaos.await.unwrap();
    harness.complete("success", "rode through").await.unwrap();
    assert_eq!(harness.reconnects(), 5);
    assert_eq!(status_of(&daemon, "rust-chaos", &run_id).await, "completed");
    let client = tether_client::Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let trace = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    let ids: Vec<String> = trace["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["record"] == "turn")
        .map(|r| r["action_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, (0..TURNS).map(|i| format!("a{i}")).collect::<Vec<_>>(), "each action once, in order");
    let twice: Vec<usize> = (0..TURNS).filter(|&i| ran[i].load(Ordering::SeqCst) != 1).collect();
    assert!(twice.is_empty(), "tool bodies that did not run exactly once: {twice:?}");
}
