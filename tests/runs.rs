//! The runs domain end to end: tools, runs, proposals, traces, over a real socket.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;
use tether_proto::ErrorObject;

/// A harness whose tools behave as their names say; counts `tools.execute` calls.
async fn harness(server: &TestServer, builder: tether_client::ClientBuilder) -> (Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let client = builder
        .on_request("tools.execute", move |params: Value| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { run_tool(params).await }
        })
        .connect()
        .await
        .unwrap();
    let tools = json!([
        {"name": "echo", "description": "returns its parameters"},
        {"name": "typed", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}},
        {"name": "fail"}, {"name": "fail_terminal"}, {"name": "flaky"}, {"name": "hang"}, {"name": "big"}
    ]);
    assert_eq!(client.call_raw("tools.register", tools).await.unwrap(), 7);
    let _ = server;
    (client, calls)
}

async fn run_tool(params: Value) -> Result<Value, ErrorObject> {
    let args = params["parameters"].clone();
    match params["tool"].as_str().unwrap() {
        "echo" | "typed" => Ok(args),
        "fail" => Err(ErrorObject::new(-1, "boom")),
        "fail_terminal" => Err(ErrorObject::new(-1, "fatal").with_data(json!({"terminal": true}))),
        "flaky" if params["attempt"].as_u64() < args["succeed_on"].as_u64() => Err(ErrorObject::new(-1, "flaky")),
        "flaky" => Ok(json!({"attempt": params["attempt"]})),
        "hang" => std::future::pending().await,
        "big" => Ok(json!("x".repeat(args["bytes"].as_u64().unwrap() as usize))),
        other => Err(ErrorObject::new(-1, format!("no tool {other}"))),
    }
}

fn action(id: &str, tool: &str, parameters: Value) -> Value {
    json!({"id": id, "type": "tool_call", "tool": tool, "parameters": parameters})
}

async fn submit(client: &Client, actions: Value) -> Value {
    client.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await.unwrap()
}

async fn start(client: &Client, agent: &str) -> String {
    let started = client.call_raw("runs.start", json!({"intent": "test", "agent_id": agent})).await.unwrap();
    started["run_id"].as_str().unwrap().to_owned()
}

async fn trace(client: &Client, run_id: &str) -> Value {
    client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap()
}

/// The newest record of a trace page.
fn last(trace: &Value) -> &Value {
    trace["records"].as_array().unwrap().last().unwrap()
}

fn statuses(result: &Value) -> Vec<&str> {
    result["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn the_full_cycle() {
    let server = TestServer::start().await;
    let (client, calls) = harness(&server, server.client()).await;
    let started =
        client.call_raw("runs.start", json!({"intent": "fix the bug", "agent_name": "Fixer Bot"})).await.unwrap();
    assert_eq!(started["agent_id"], "name:fixer-bot");
    assert!(started["client_id"].is_string());
    let run_id = started["run_id"].as_str().unwrap();
    assert_eq!(ulid::Ulid::from_string(run_id).unwrap().to_string(), run_id);

    let result = submit(&client, json!([action("a1", "echo", json!({"prompt": "say hi", "x": 1}))])).await;
    assert_eq!(result["results"][0]["action_id"], "a1");
    assert_eq!(result["results"][0]["status"], "succeeded");
    assert_eq!(result["results"][0]["output"], json!({"prompt": "say hi", "x": 1}));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    let outcome = json!({"status": "success", "summary": "done", "evidence": [], "metrics": {"turns": 1}, "timestamp": "2026-11-21T00:00:00Z"});
    let done = client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();
    assert_eq!(done, json!({"run_id": run_id, "ok": true}));
    let again = client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap_err();
    assert_eq!(again.code(), Some(-32602), "ending twice is an error");

    let list = client.call_raw("runs.list", json!({"agent_id": "name:fixer-bot"})).await.unwrap();
    assert_eq!(list["runs"][0]["run_id"], run_id);
    assert_eq!(list["runs"][0]["status"], "completed");
    assert_eq!(list["runs"][0]["turn_count"], 1);
    assert_eq!(list["runs"][0]["intent"], "fix the bug");
    assert!(list["runs"][0]["ended_at"].is_string());

    let trace = trace(&client, run_id).await;
    let kinds: Vec<&str> = trace["records"].as_array().unwrap().iter().map(|r| r["record"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "turn", "ended"], "oldest first");
    let turn = &trace["records"][1];
    assert_eq!(
        (turn["index"].clone(), turn["tool"].clone(), turn["prompt"].clone()),
        (json!(0), json!("echo"), json!("say hi"))
    );
    assert_eq!(turn["status"], "succeeded");
    assert_eq!(last(&trace)["termination"]["kind"], "outcome");
    assert_eq!(last(&trace)["termination"]["outcome"]["summary"], "done");
}

#[tokio::test]
async fn schema_failures_are_rejected_with_the_path_and_never_sent() {
    let server = TestServer::start().await;
    let (client, calls) = harness(&server, server.client()).await;
    start(&client, "agent").await;
    let result = submit(&client, json!([action("a1", "typed", json!({"n": "seven"}))])).await;
    assert_eq!(statuses(&result), ["rejected"]);
    let error = result["results"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("parameters/n"), "{error}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a rejected action never reaches the client");
    let ok = submit(&client, json!([action("a2", "typed", json!({"n": 7}))])).await;
    assert_eq!(statuses(&ok), ["succeeded"]);
}

#[tokio::test]
async fn abort_skip_retry_and_terminal_errors() {
    let server = TestServer::start().await;
    let (client, _) = harness(&server, server.client()).await;
    let run_id = start(&client, "agent").await;

    let aborted = submit(&client, json!([action("a1", "fail", json!({})), action("a2", "echo", json!({}))])).await;
    assert_eq!(statuses(&aborted), ["failed", "skipped"]);
    assert_eq!(aborted["results"][0]["error"], "boom");

    let mut skip = action("b1", "fail", json!({}));
    skip["failure_behavior"] = json!("skip");
    let skipped = submit(&client, json!([skip, action("b2", "echo", json!({}))])).await;
    assert_eq!(statuses(&skipped), ["failed", "succeeded"]);

    let mut retry = action("c1", "flaky", json!({"succeed_on": 3}));
    retry["failure_behavior"] = json!("retry");
    retry["max_retries"] = json!(2);
    let retried = submit(&client, json!([retry])).await;
    assert_eq!(statuses(&retried), ["succeeded"]);
    assert_eq!(retried["results"][0]["output"], json!({"attempt": 3}), "attempts count from 1");

    let mut terminal = action("d1", "fail_terminal", json!({}));
    terminal["failure_behavior"] = json!("retry");
    terminal["max_retries"] = json!(5);
    let mut after = action("d2", "echo", json!({}));
    after["failure_behavior"] = json!("skip");
    let stopped = submit(&client, json!([terminal, after])).await;
    assert_eq!(statuses(&stopped), ["failed", "skipped"], "a terminal error aborts, whatever the behaviour");

    let trace = trace(&client, &run_id).await;
    let turns: Vec<&Value> = trace["records"].as_array().unwrap().iter().filter(|r| r["record"] == "turn").collect();
    assert_eq!(turns.len(), 7, "one turn per action, skipped ones included");
    let retried_turn = turns.iter().find(|t| t["action_id"] == "c1").unwrap();
    assert_eq!(retried_turn["attempts"], 3);
    let terminal_turn = turns.iter().find(|t| t["action_id"] == "d1").unwrap();
    assert_eq!(terminal_turn["attempts"], 1);
}

#[tokio::test]
async fn a_timed_out_call_fails_and_the_client_is_told_to_cancel() {
    let setup =
        Setup { runs: tether_runs::RunsConfig { wait_slack_ms: 50, ..Default::default() }, ..Default::default() };
    let server = TestServer::start_setup(setup, |_| {}).await;
    let (client, _) = harness(&server, server.client()).await;
    start(&client, "agent").await;
    let mut hang = action("h1", "hang", json!({}));
    hang["timeout_ms"] = json!(50);
    let result = submit(&client, json!([hang])).await;
    assert_eq!(statuses(&result), ["failed"]);
    assert!(result["results"][0]["error"].as_str().unwrap().contains("no reply"), "{result}");
    let cancel = tokio::time::timeout(PATIENCE, client.next_notification()).await.unwrap().unwrap();
    assert_eq!(cancel.method, "tools.cancel");
    assert_eq!(cancel.params["action_id"], "h1");
    assert_eq!(cancel.params["reason"], "timeout");
    assert!(cancel.params["request_id"].as_str().unwrap().starts_with("cb-"));
}

#[tokio::test]
async fn cancelling_a_proposal_cancels_its_tool_call() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"tools.register","params":[{"name":"hang"}]})).await;
    assert_eq!(recv(&mut ws).await["result"], 1);
    send(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"proposal.submit","params":{"proposal":{"actions":[action("x1","hang",json!({}))]}}})).await;
    let execute = recv(&mut ws).await;
    assert_eq!(execute["method"], "tools.execute");
    assert_eq!(execute["params"]["request_id"], execute["id"], "request_id equals the JSON-RPC id");
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}})).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(recv(&mut ws).await);
    }
    let cancelled = got.iter().find(|m| m["id"] == 2).expect("the proposal is answered");
    assert_eq!(cancelled["error"]["code"], -32800);
    let notice = got.iter().find(|m| m["method"] == "tools.cancel").expect("the tool call is cancelled");
    assert_eq!(notice["params"]["request_id"], execute["id"]);
}

/// A raw session with an `echo` tool and a run of `agent`'s started; its run id.
async fn echo_run(server: &TestServer, agent: &str) -> (Ws, String) {
    let mut ws = server.raw_session().await;
    let registered = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"tools.register","params":[{"name":"echo"}]}));
    assert_eq!(registered.await["result"], 1);
    let started =
        rpc(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"runs.start","params":{"intent":"test","agent_id":agent}}));
    let run_id = started.await["result"]["run_id"].as_str().expect("a run id").to_owned();
    (ws, run_id)
}

/// A proposal cancelled while its turn is being synced: the turn is durable, so the run
/// counts it, and the next proposal's turn comes after it, never in its place.
#[tokio::test]
async fn a_proposal_cancelled_during_its_turns_sync_still_counts_that_turn() {
    let held = Arc::new(Held::default());
    let server = TestServer::start_setup(Setup { fsync: held.clone(), ..Default::default() }, |_| {}).await;
    let (mut ws, run_id) = echo_run(&server, "kat").await;
    // The first proposal's turn is written, and its sync held.
    held.arm();
    let submit = |id: u64, proposal: &str| {
        json!({"jsonrpc":"2.0","id":id,"method":"proposal.submit",
            "params":{"proposal":{"id":proposal,"actions":[action("a1","echo",json!({"n":id}))]}}})
    };
    send(&mut ws, submit(3, "p-held")).await;
    let execute = recv(&mut ws).await;
    assert_eq!(execute["method"], "tools.execute");
    send(&mut ws, json!({"jsonrpc":"2.0","id":execute["id"],"result":{"n":3}})).await;
    wait_until("the first turn's sync is held", async || held.entered()).await;
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], -32800, "the proposal is answered cancelled");
    // The next proposal runs its tool while the first turn is still unsynced.
    send(&mut ws, submit(4, "p-next")).await;
    let execute = recv(&mut ws).await;
    assert_eq!(execute["method"], "tools.execute");
    send(&mut ws, json!({"jsonrpc":"2.0","id":execute["id"],"result":{"n":4}})).await;
    held.release();
    let answered = recv(&mut ws).await;
    assert_eq!(answered["id"], 4);
    assert_eq!(answered["result"]["results"][0]["status"], "succeeded", "{answered}");
    let trace =
        rpc(&mut ws, json!({"jsonrpc":"2.0","id":5,"method":"runs.get_trace","params":{"run_id":run_id}})).await;
    let turns: Vec<(u64, &str)> = trace["result"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["record"] == "turn")
        .map(|r| (r["index"].as_u64().unwrap(), r["proposal_id"].as_str().unwrap()))
        .collect();
    assert_eq!(turns, [(0, "p-held"), (1, "p-next")], "{trace}");
    let run = rpc(&mut ws, json!({"jsonrpc":"2.0","id":6,"method":"runs.get","params":{"run_id":run_id}})).await;
    assert_eq!(run["result"]["turn_count"], 2, "{run}");
}

/// `runs.complete` cancelled while its end is being synced: the end is durable, so the
/// run is ended in memory too, and no turn lands after it.
#[tokio::test]
async fn a_completion_cancelled_during_its_sync_still_ends_the_run() {
    let held = Arc::new(Held::default());
    let server = TestServer::start_setup(Setup { fsync: held.clone(), ..Default::default() }, |_| {}).await;
    let (mut ws, run_id) = echo_run(&server, "en").await;
    held.arm();
    send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":3,"method":"runs.complete",
        "params":{"run_id":run_id,"outcome":{"status":"done"}}}),
    )
    .await;
    wait_until("the end's sync is held", async || held.entered()).await;
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}})).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], -32800, "the completion is answered cancelled");
    held.release();
    wait_until("the run reads ended", async || {
        let run = rpc(&mut ws, json!({"jsonrpc":"2.0","id":4,"method":"runs.get","params":{"run_id":run_id}})).await;
        run["result"]["status"] == "completed"
    })
    .await;
    // Whatever becomes of a proposal now (run unjournalled, or refused), no turn follows the end.
    send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":5,"method":"proposal.submit",
        "params":{"proposal":{"actions":[action("a1","echo",json!({}))]}}}),
    )
    .await;
    let mut answered = recv(&mut ws).await;
    if answered["method"] == "tools.execute" {
        send(&mut ws, json!({"jsonrpc":"2.0","id":answered["id"],"result":{}})).await;
        answered = recv(&mut ws).await;
    }
    assert_eq!(answered["id"], 5, "{answered}");
    let trace =
        rpc(&mut ws, json!({"jsonrpc":"2.0","id":6,"method":"runs.get_trace","params":{"run_id":run_id}})).await;
    let kinds: Vec<&str> =
        trace["result"]["records"].as_array().unwrap().iter().map(|r| r["record"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "ended"], "{trace}");
}

/// `runs.start` cancelled while its `started` record is being synced: the run is durable,
/// so it is indexed and becomes the connection's current run all the same, and a retry
/// under the same idempotency key, sent before the sync ends, waits for it and is
/// answered with that run: one run under the key, in the index and on disk.
#[tokio::test]
async fn a_start_cancelled_during_its_sync_is_the_run_its_retry_gets() {
    let held = Arc::new(Held::default());
    let server = TestServer::start_setup(Setup { fsync: held.clone(), ..Default::default() }, |_| {}).await;
    let mut ws = server.raw_session().await;
    let registered = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"tools.register","params":[{"name":"echo"}]}));
    assert_eq!(registered.await["result"], 1);
    let start = |id: u64| {
        json!({"jsonrpc":"2.0","id":id,"method":"runs.start",
            "params":{"intent":"test","agent_id":"rk","idempotency_key":"k-retry"}})
    };
    held.arm();
    send(&mut ws, start(2)).await;
    wait_until("the start's sync is held", async || held.entered()).await;
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}})).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], -32800, "the start is answered cancelled");
    send(&mut ws, start(3)).await;
    held.release();
    let retried = recv(&mut ws).await;
    assert_eq!(retried["id"], 3, "{retried}");
    let run_id = retried["result"]["run_id"].as_str().expect("a run id").to_owned();
    let listed = rpc(&mut ws, json!({"jsonrpc":"2.0","id":4,"method":"runs.list","params":{"agent_id":"rk"}})).await;
    let runs: Vec<&str> =
        listed["result"]["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(runs, [run_id.as_str()], "{listed}");
    let journal = server.data_dir.join("journal");
    let started: usize = std::fs::read_dir(&journal)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .map(|bytes| bytes.windows(b"k-retry".len()).filter(|w| w == b"k-retry").count())
        .sum();
    assert_eq!(started, 1, "one started record carries the key");
    // The run is the connection's current one: a proposal's turn lands there.
    send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":5,"method":"proposal.submit",
            "params":{"proposal":{"actions":[action("a1","echo",json!({}))]}}}),
    )
    .await;
    let execute = recv(&mut ws).await;
    assert_eq!(execute["method"], "tools.execute", "{execute}");
    send(&mut ws, json!({"jsonrpc":"2.0","id":execute["id"],"result":{}})).await;
    assert_eq!(recv(&mut ws).await["result"]["results"][0]["status"], "succeeded");
    let run = rpc(&mut ws, json!({"jsonrpc":"2.0","id":6,"method":"runs.get","params":{"run_id":run_id}})).await;
    assert_eq!(run["result"]["turn_count"], 1, "{run}");
}

/// Two starts under one idempotency key on one connection, the second sent while the
/// first's run is being synced: it waits for that run to be durable and indexed, and
/// is answered with it.
#[tokio::test]
async fn a_second_start_under_a_key_being_synced_gets_the_same_run() {
    let held = Arc::new(Held::default());
    let server = TestServer::start_setup(Setup { fsync: held.clone(), ..Default::default() }, |_| {}).await;
    let mut ws = server.raw_session().await;
    let start = |id: u64| {
        json!({"jsonrpc":"2.0","id":id,"method":"runs.start",
            "params":{"intent":"test","agent_id":"pk","idempotency_key":"k-pipe"}})
    };
    held.arm();
    send(&mut ws, start(1)).await;
    wait_until("the first start's sync is held", async || held.entered()).await;
    send(&mut ws, start(2)).await;
    // Frames are dispatched in order: once the ping is answered, the second start has
    // been too, up to its first wait.
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":3,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong");
    held.release();
    let (first, second) = (recv(&mut ws).await, recv(&mut ws).await);
    assert!(first["result"]["run_id"].is_string(), "{first}");
    assert_eq!(first["result"]["run_id"], second["result"]["run_id"], "{first} {second}");
}

/// `runs.start` cancelled during its sync, and its connection gone before the sync
/// ends: the run is durable, so it is indexed, and swept `incomplete` after the grace
/// like any run its connection left, not left in progress until a restart.
#[tokio::test]
async fn a_start_cancelled_as_its_connection_closes_still_has_its_run_swept() {
    let held = Arc::new(Held::default());
    let runs = tether_runs::RunsConfig { disconnect_grace_ms: 10, ..Default::default() };
    let server = TestServer::start_setup(Setup { fsync: held.clone(), runs, ..Default::default() }, |_| {}).await;
    let mut ws = server.raw_session().await;
    held.arm();
    send(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"runs.start","params":{"intent":"test","agent_id":"sw"}}))
        .await;
    wait_until("the start's sync is held", async || held.entered()).await;
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}})).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], -32800, "the start is answered cancelled");
    drop(ws);
    server.wait_for_connections(0).await;
    held.release();
    let operator = server.connect().await;
    wait_until("the run is swept incomplete", async || {
        let listed = operator.call_raw("runs.list", json!({"agent_id": "sw"})).await.unwrap();
        listed["runs"][0]["status"] == "incomplete"
    })
    .await;
}

/// A proposal is answered by the journal's thread the moment its turn is durable, and
/// only once the run counts the turn and the proposal's id is free again: a `runs.get`
/// sent as each answer arrives sees every turn so far, and the next proposal may reuse
/// the id at once.
#[tokio::test]
async fn a_proposals_answer_comes_after_its_turn_is_counted_and_frees_its_id() {
    let server = TestServer::start().await;
    let (mut ws, run_id) = echo_run(&server, "ti").await;
    for n in 1..=40u64 {
        let proposal = json!({"jsonrpc":"2.0","id":7,"method":"proposal.submit",
            "params":{"proposal":{"actions":[action("a1","echo",json!({"n":n}))]}}});
        send(&mut ws, proposal).await;
        let execute = recv(&mut ws).await;
        assert_eq!(execute["method"], "tools.execute", "{execute}");
        send(&mut ws, json!({"jsonrpc":"2.0","id":execute["id"],"result":{"n":n}})).await;
        let answered = recv(&mut ws).await;
        assert_eq!(answered["id"], 7, "{answered}");
        assert_eq!(answered["result"]["results"][0]["output"]["n"], n, "{answered}");
        let run = rpc(&mut ws, json!({"jsonrpc":"2.0","id":8,"method":"runs.get","params":{"run_id":run_id}})).await;
        assert_eq!(run["result"]["turn_count"], n, "{run}");
    }
}

/// A proposal inside a batch is answered in the batch's one array, never ahead of it.
#[tokio::test]
async fn a_proposal_in_a_batch_is_answered_in_the_batchs_array() {
    let server = TestServer::start().await;
    let (mut ws, _) = echo_run(&server, "bo").await;
    let batch = json!([
        {"jsonrpc":"2.0","id":3,"method":"proposal.submit","params":{"proposal":{"actions":[action("a1","echo",json!({}))]}}},
        {"jsonrpc":"2.0","id":4,"method":"server.ping"}
    ]);
    send(&mut ws, batch).await;
    let execute = recv(&mut ws).await;
    assert_eq!(execute["method"], "tools.execute", "{execute}");
    send(&mut ws, json!({"jsonrpc":"2.0","id":execute["id"],"result":{"ok":true}})).await;
    let answered = recv(&mut ws).await;
    let ids: Vec<&Value> = answered.as_array().expect("one array for the batch").iter().map(|r| &r["id"]).collect();
    assert_eq!(ids.len(), 2, "{answered}");
    assert!(ids.contains(&&json!(3)) && ids.contains(&&json!(4)), "{answered}");
}

#[tokio::test]
async fn unsupported_types_and_unknown_tools_are_rejected_per_action() {
    let server = TestServer::start().await;
    let (client, _) = harness(&server, server.client()).await;
    let mut odd = action("t1", "echo", json!({}));
    odd["type"] = json!("shell");
    let mut keep_going = action("t2", "nope", json!({}));
    keep_going["failure_behavior"] = json!("skip");
    let result = submit(&client, json!([keep_going, odd])).await;
    assert_eq!(statuses(&result), ["rejected", "rejected"]);
    assert!(result["results"][0]["error"].as_str().unwrap().contains("not registered"));
    assert!(result["results"][1]["error"].as_str().unwrap().contains("tool_call"));
}

#[tokio::test]
async fn a_proposal_without_a_run_executes_and_is_not_journalled() {
    let server = TestServer::start().await;
    let (client, calls) = harness(&server, server.client()).await;
    let result = submit(&client, json!([action("a1", "echo", json!({"v": 1}))])).await;
    assert_eq!(statuses(&result), ["succeeded"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let list = client.call_raw("runs.list", json!({})).await.unwrap();
    assert_eq!(list["runs"], json!([]));
}

#[tokio::test]
async fn tools_list_and_unregister() {
    let server = TestServer::start().await;
    let (client, _) = harness(&server, server.client()).await;
    let listed = client.call_raw("tools.list", json!({})).await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 7);
    assert_eq!(client.call_raw("tools.unregister", json!({"name": "echo"})).await.unwrap(), json!({"removed": true}));
    assert_eq!(client.call_raw("tools.unregister", json!({"name": "echo"})).await.unwrap(), json!({"removed": false}));
    let other = server.connect().await;
    assert_eq!(other.call_raw("tools.list", json!({})).await.unwrap(), json!([]), "tools belong to their connection");
    let bad = client.call_raw("tools.register", json!([{"name": "x", "parameters": {"type": 5}}])).await.unwrap_err();
    assert_eq!(bad.code(), Some(-32602));
}

#[tokio::test]
async fn idempotency_keys_return_the_same_run_and_conflict_across_connections() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let params = json!({"intent": "once", "agent_id": "a", "idempotency_key": "k1"});
    let first = client.call_raw("runs.start", params.clone()).await.unwrap();
    let retry = client.call_raw("runs.start", params.clone()).await.unwrap();
    assert_eq!(first, retry);
    let other = server.connect().await;
    let conflict = other.call_raw("runs.start", params).await.unwrap_err();
    assert_eq!(conflict.code(), Some(-32010), "{conflict}");
}

#[tokio::test]
async fn agents_see_only_their_own_runs_and_the_operator_sees_all() {
    let server = TestServer::start().await;
    let alice = server.client().agent_id("alice").connect().await.unwrap();
    let bob = server.client().agent_id("bob").connect().await.unwrap();
    let operator = server.connect().await;
    let run = alice.call_raw("runs.start", json!({"intent": "private"})).await.unwrap();
    let run_id = run["run_id"].as_str().unwrap();
    assert_eq!(run["agent_id"], "alice", "the binding decides the agent");

    assert_eq!(trace(&bob, run_id).await, json!({"run_id": run_id, "not_found": true}));
    assert_eq!(trace(&bob, "not-a-ulid").await, json!({"run_id": "not-a-ulid", "not_found": true}));
    let listed = bob.call_raw("runs.list", json!({"agent_id": "alice"})).await.unwrap();
    assert_eq!(listed["runs"], json!([]));
    let outcome = json!({"status": "failure"});
    let refused = bob.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap_err();
    let unknown = bob
        .call_raw("runs.complete", json!({"run_id": ulid::Ulid::new().to_string(), "outcome": outcome}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), unknown.code(), "someone else's run looks unknown");
    assert!(bob.call_raw("runs.subscribe", json!({"run_id": run_id})).await.is_err());

    assert_eq!(trace(&operator, run_id).await["agent_id"], "alice");
    assert_eq!(
        operator.call_raw("runs.list", json!({"agent_id": "alice"})).await.unwrap()["runs"][0]["run_id"],
        run_id
    );
    assert_eq!(alice.call_raw("runs.list", json!({})).await.unwrap()["runs"][0]["run_id"], run_id);
    let cancelled = operator.call_raw("runs.cancel", json!({"run_id": run_id, "reason": "operator"})).await.unwrap();
    assert_eq!(cancelled["ok"], true);
    assert_eq!(last(&trace(&alice, run_id).await)["termination"], json!({"kind": "cancelled", "reason": "operator"}));
}

#[tokio::test]
async fn traces_page_oldest_first_and_lists_newest_first_with_numeric_cursors() {
    let server = TestServer::start().await;
    let (client, _) = harness(&server, server.client()).await;
    let run_id = start(&client, "pager").await;
    for i in 0..7 {
        submit(&client, json!([action(&format!("a{i}"), "echo", json!({"i": i}))])).await;
    }
    let mut seen = Vec::new();
    let mut cursor = json!(0);
    loop {
        let page =
            client.call_raw("runs.get_trace", json!({"run_id": run_id, "limit": 3, "cursor": cursor})).await.unwrap();
        assert_eq!(page["cursor"], cursor, "a page says where it starts");
        assert_eq!(page["limit"], 3);
        seen.extend(page["records"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        assert_eq!(cursor, json!(seen.len()), "next_cursor is the index after the last record returned");
    }
    assert_eq!(seen.len(), 8, "started + 7 turns");
    assert_eq!(seen[0]["record"], "started");
    let indexes: Vec<i64> = seen.iter().filter_map(|r| r["index"].as_i64()).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5, 6]);
    // The legacy form: every record from `cursor` on.
    let all = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(all["records"].as_array().unwrap().len(), 8);
    assert!(all["next_cursor"].is_null());
    let rest = client.call_raw("runs.get_trace", json!({"run_id": run_id, "cursor": 5})).await.unwrap();
    assert_eq!(rest["records"][0]["index"], 4, "record 5 is the fifth turn");
    assert_eq!(rest["records"].as_array().unwrap().len(), 3);
    let past = client.call_raw("runs.get_trace", json!({"run_id": run_id, "cursor": 99, "limit": 5})).await.unwrap();
    assert_eq!(past["records"], json!([]));

    let mut ids = vec![run_id.clone()];
    for _ in 0..4 {
        ids.push(start(&client, "pager").await);
    }
    let mut listed = Vec::new();
    let mut cursor = json!(0);
    loop {
        let page =
            client.call_raw("runs.list", json!({"agent_id": "pager", "limit": 2, "cursor": cursor})).await.unwrap();
        listed.extend(page["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
        // Runs started between pages do not shift the next page (a keyset, not an offset).
        start(&client, "pager").await;
    }
    ids.reverse();
    assert_eq!(listed, ids, "every run once, newest first, none of those started meanwhile");
    let everything = client.call_raw("runs.list", json!({"agent_id": "pager"})).await.unwrap();
    assert_eq!(everything["runs"].as_array().unwrap().len(), 5 + 2, "the legacy form lists every run");
    assert!(everything["next_cursor"].is_null());
    let bad = client.call_raw("runs.get_trace", json!({"run_id": run_id, "cursor": "bogus"})).await.unwrap_err();
    assert_eq!(bad.code(), Some(-32602));
    let too_many = client.call_raw("runs.list", json!({"limit": 201})).await.unwrap_err();
    assert!(too_many.to_string().contains("params.limit"), "{too_many}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_sees_every_record_once_with_no_gap() {
    let server = TestServer::start().await;
    let (agent, _) = harness(&server, server.client()).await;
    let run_id = start(&agent, "watched").await;
    let writer = {
        let agent = agent.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                submit(&agent, json!([action(&format!("a{i}"), "echo", json!({"i": i}))])).await;
            }
        })
    };
    let watcher = server.connect().await;
    let subscribed = watcher.call_raw("runs.subscribe", json!({"run_id": run_id})).await.unwrap();
    let live = subscribed["live_cursor"].as_u64().unwrap();
    assert_eq!(subscribed["snapshot"].as_array().unwrap().len() as u64, live);
    writer.await.unwrap();
    let outcome = json!({"status": "success"});
    agent.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();

    let total = 1 + 40 + 1;
    let mut cursors = Vec::new();
    while live + (cursors.len() as u64) < total {
        let event = tokio::time::timeout(PATIENCE, watcher.next_notification()).await.unwrap().unwrap();
        assert_eq!(event.method, "runs.trace.event");
        assert_eq!(event.params["run_id"], run_id.as_str());
        cursors.push(event.params["cursor"].as_u64().unwrap());
        if event.params["record"]["record"] == "ended" {
            assert_eq!(event.params["status"], "completed");
        }
    }
    assert_eq!(cursors, (live..total).collect::<Vec<_>>(), "contiguous from live_cursor");
    assert_eq!(watcher.call_raw("runs.unsubscribe", json!({"run_id": run_id})).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn a_snapshot_over_the_unpaged_bound_is_refused_and_a_later_from_cursor_subscribes() {
    let runs = tether_runs::RunsConfig { max_unpaged_reply_bytes: 16 << 10, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let (agent, _) = harness(&server, server.client()).await;
    let run_id = start(&agent, "long").await;
    for i in 0..8 {
        submit(&agent, json!([action(&format!("a{i}"), "big", json!({"bytes": 4000}))])).await;
    }
    let watcher = server.connect().await;
    let refused = watcher.call_raw("runs.subscribe", json!({"run_id": run_id})).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32602), "{refused}");
    let message = refused.to_string();
    assert!(message.contains("runs.max_unpaged_reply_bytes") && message.contains("from_cursor"), "{message}");
    // Nothing was subscribed by the refusal.
    assert_eq!(watcher.call_raw("runs.unsubscribe", json!({"run_id": run_id})).await.unwrap()["ok"], false);

    // What a client does instead: the history by page, then a subscription from its end.
    let records = 1 + 8;
    let subscribed =
        watcher.call_raw("runs.subscribe", json!({"run_id": run_id, "from_cursor": records - 2})).await.unwrap();
    let snapshot = subscribed["snapshot"].as_array().unwrap();
    assert_eq!(snapshot.len(), 2, "the snapshot starts at from_cursor");
    assert_eq!(snapshot[0]["index"], 6, "record 7 is the seventh turn");
    assert_eq!(subscribed["live_cursor"], records);
    submit(&agent, json!([action("after", "echo", json!({}))])).await;
    let event = tokio::time::timeout(PATIENCE, watcher.next_notification()).await.unwrap().unwrap();
    assert_eq!((event.method.as_str(), event.params["cursor"].as_u64()), ("runs.trace.event", Some(records)));
    // A cursor past the end (the largest there is) is the end: an empty snapshot, live from there.
    let past = watcher.call_raw("runs.subscribe", json!({"run_id": run_id, "from_cursor": u64::MAX})).await.unwrap();
    assert_eq!((past["snapshot"].as_array().unwrap().len(), past["live_cursor"].as_u64()), (0, Some(records + 1)));
    // A hostile run id costs a short refusal, not an echo of itself.
    let hostile = "R".repeat(512 << 10);
    let unknown = watcher.call_raw("runs.subscribe", json!({"run_id": hostile, "from_cursor": 0})).await.unwrap_err();
    assert_eq!(unknown.code(), Some(-32602), "{unknown}");
    assert!(unknown.to_string().len() < 4096, "{} bytes of refusal", unknown.to_string().len());
}

#[tokio::test]
async fn a_disconnected_owner_leaves_an_incomplete_run_but_a_completed_one_stays() {
    let setup =
        Setup { runs: tether_runs::RunsConfig { disconnect_grace_ms: 50, ..Default::default() }, ..Default::default() };
    let server = TestServer::start_setup(setup, |_| {}).await;
    let owner = server.connect().await;
    let done = start(&owner, "leaver").await;
    owner.call_raw("runs.complete", json!({"run_id": done, "outcome": {"status": "done"}})).await.unwrap();
    let abandoned = start(&owner, "leaver").await;
    owner.close();
    owner.closed().await;

    let operator = server.connect().await;
    let status = |list: &Value, id: &str| {
        list["runs"].as_array().unwrap().iter().find(|r| r["run_id"] == id).unwrap()["status"].clone()
    };
    let list = || async { operator.call_raw("runs.list", json!({"agent_id": "leaver"})).await.unwrap() };
    wait_until("the abandoned run is swept", async || status(&list().await, &abandoned) == "incomplete").await;
    assert_eq!(status(&list().await, &done), "completed");
    let trace = trace(&operator, &abandoned).await;
    assert_eq!(last(&trace)["termination"], json!({"kind": "incomplete"}));
}

#[tokio::test]
async fn a_resumable_client_reclaims_its_run_and_fences_the_old_connection() {
    let server = TestServer::start().await;
    let first = server.client().agent_id("phoenix").require_capability("runs.resume.v1").connect().await.unwrap();
    let run_id = start(&first, "phoenix").await;
    let (second, _) = harness(&server, server.client().agent_id("phoenix").require_capability("runs.resume.v1")).await;
    let resumed = second.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(resumed["status"], "in_progress");
    assert_eq!(resumed["records"], 1);
    let fenced = first.call_raw("proposal.submit", json!({"proposal": {"actions": []}})).await.unwrap_err();
    assert_eq!(fenced.code(), Some(-32010), "{fenced}");
    first.close();
    submit(&second, json!([action("r1", "echo", json!({}))])).await;
    second.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await.unwrap();
    let trace = trace(&second, &run_id).await;
    assert_eq!(trace["records"].as_array().unwrap().len(), 3);

    let plain = server.client().agent_id("phoenix").connect().await.unwrap();
    let refused = plain.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32008));
    let message = refused.to_string();
    assert!(message.contains("did not negotiate") && message.contains("optional_capabilities"), "{message}");
}

#[tokio::test]
async fn a_resumable_clients_run_waits_for_the_lease_not_the_grace() {
    let setup = Setup {
        runs: tether_runs::RunsConfig { disconnect_grace_ms: 10, resume_lease_ms: 60_000, ..Default::default() },
        ..Default::default()
    };
    let server = TestServer::start_setup(setup, |_| {}).await;
    let first = server.client().agent_id("lazarus").require_capability("runs.resume.v1").connect().await.unwrap();
    let run_id = start(&first, "lazarus").await;
    first.close();
    first.closed().await;
    // A witness closed afterwards without the capability: once its run is swept,
    // the 10 ms grace has certainly passed for the first one too.
    let witness = server.connect().await;
    let witness_run = start(&witness, "witness").await;
    witness.close();
    witness.closed().await;
    let operator = server.connect().await;
    wait_until("the witness is swept", async || last(&trace(&operator, &witness_run).await)["record"] == "ended").await;
    let second = server.client().agent_id("lazarus").require_capability("runs.resume.v1").connect().await.unwrap();
    let resumed = second.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(resumed["status"], "in_progress");
}

#[tokio::test]
async fn an_injected_fsync_failure_is_an_error_reply_and_nothing_is_acknowledged() {
    let fsync = Arc::new(Flaky(AtomicBool::new(false)));
    let server = TestServer::start_setup(Setup { fsync: fsync.clone(), ..Default::default() }, |_| {}).await;
    let (client, _) = harness(&server, server.client()).await;
    let run_id = start(&client, "doomed").await;
    fsync.0.store(true, Ordering::SeqCst);
    let err = client
        .call_raw("proposal.submit", json!({"proposal": {"actions": [action("a1", "echo", json!({}))]}}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(-32603), "{err}");
    let not_started = client.call_raw("runs.start", json!({"intent": "x", "agent_id": "doomed"})).await.unwrap_err();
    assert_eq!(not_started.code(), Some(-32603));
    let not_completed =
        client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await;
    assert!(not_completed.is_err());
    let trace = trace(&client, &run_id).await;
    assert_eq!(
        trace["records"].as_array().unwrap().len(),
        1,
        "only the started record, acknowledged before the failure"
    );
}

#[tokio::test]
async fn a_turn_over_the_size_limit_fails_clearly_and_keeps_its_facts() {
    let setup =
        Setup { runs: tether_runs::RunsConfig { max_turn_bytes: 1024, ..Default::default() }, ..Default::default() };
    let server = TestServer::start_setup(setup, |_| {}).await;
    let (client, _) = harness(&server, server.client()).await;
    let run_id = start(&client, "verbose").await;
    let result = submit(&client, json!([action("b1", "big", json!({"bytes": 5000}))])).await;
    assert_eq!(statuses(&result), ["failed"]);
    assert!(result["results"][0]["error"].as_str().unwrap().contains("max_turn_bytes"));
    let trace = trace(&client, &run_id).await;
    let turn = &trace["records"][1];
    assert_eq!(turn["action_id"], "b1");
    assert!(turn.get("output").is_none());
}

#[tokio::test]
async fn bad_run_params_name_the_field() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let empty = client.call_raw("runs.start", json!({"intent": "  ", "agent_id": "a"})).await.unwrap_err();
    assert!(empty.to_string().contains("params.intent"), "{empty}");
    let missing = client.call_raw("runs.start", json!({"agent_id": "a"})).await.unwrap_err();
    assert!(missing.to_string().contains("intent"), "{missing}");
    let typed = client.call_raw("runs.start", json!({"intent": 5, "agent_id": "a"})).await.unwrap_err();
    assert!(typed.to_string().contains("params.intent"), "{typed}");
    let no_agent = client.call_raw("runs.start", json!({"intent": "x"})).await.unwrap_err();
    assert!(no_agent.to_string().contains("params.agent_id"), "{no_agent}");
    let bad_id = client
        .call_raw("runs.complete", json!({"run_id": "../../etc/passwd", "outcome": {"status": "done"}}))
        .await
        .unwrap_err();
    assert_eq!(bad_id.code(), Some(-32602));
    let bad_action =
        client.call_raw("proposal.submit", json!({"proposal": {"actions": [{"tool": "x"}]}})).await.unwrap_err();
    assert!(bad_action.to_string().contains("params.proposal.actions[0]"), "{bad_action}");
}

#[tokio::test]
async fn retention_keeps_the_newest_terminal_runs_and_never_a_live_one() {
    let runs = tether_runs::RunsConfig { retain_runs_per_agent: 3, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let client = server.connect().await;
    let live = start(&client, "keeper").await;
    let mut ended = Vec::new();
    for _ in 0..6 {
        let run_id = start(&client, "keeper").await;
        client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await.unwrap();
        ended.push(run_id);
    }
    let listed = || async {
        let list = client.call_raw("runs.list", json!({"agent_id": "keeper"})).await.unwrap();
        list["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    wait_until("retention trims to 3 terminal runs", async || listed().await.len() == 4).await;
    let kept = listed().await;
    assert_eq!(kept[..3], [ended[5].clone(), ended[4].clone(), ended[3].clone()], "the newest three");
    assert_eq!(kept[3], live, "the in-progress run is never evicted");
    assert_eq!(trace(&client, &ended[0]).await["not_found"], true);
}

#[tokio::test]
async fn disk_use_stays_bounded_under_retention() {
    let runs = tether_runs::RunsConfig { retain_runs_per_agent: 2, ..Default::default() };
    let journal = tether_store::JournalOptions { segment_bytes: 4096, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, journal, ..Default::default() }, |_| {}).await;
    let (client, _) = harness(&server, server.client()).await;
    let padding = "p".repeat(200);
    for _ in 0..100 {
        let run_id = start(&client, "churn").await;
        for i in 0..3 {
            submit(&client, json!([action(&format!("a{i}"), "echo", json!({"pad": padding}))])).await;
        }
        client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await.unwrap();
    }
    let journal_dir = server.data_dir.join("journal");
    let disk = || std::fs::read_dir(&journal_dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum::<u64>();
    // About 100 × 5 records × ~300 bytes went in; what stays is the two kept runs,
    // the active segment, and sealed segments that are mostly live.
    // Retention runs after each completion, in the background: wait for the last pass too.
    let listed = async || client.call_raw("runs.list", json!({"agent_id": "churn"})).await.unwrap();
    wait_until("retention and compaction catch up", async || {
        disk() < 6 * 4096 && listed().await["runs"].as_array().unwrap().len() == 2
    })
    .await;
    let list = listed().await;
    for run in list["runs"].as_array().unwrap() {
        let trace = trace(&client, run["run_id"].as_str().unwrap()).await;
        assert_eq!(trace["records"].as_array().unwrap().len(), 5, "kept runs are whole");
    }
}

#[tokio::test]
async fn a_run_started_by_a_connection_that_vanishes_mid_start_is_still_swept() {
    let setup =
        Setup { runs: tether_runs::RunsConfig { disconnect_grace_ms: 10, ..Default::default() }, ..Default::default() };
    let server = TestServer::start_setup(setup, |_| {}).await;
    for _ in 0..5 {
        let mut ws = server.raw_session().await;
        // Gone before the reply: the close races the durable start.
        send(
            &mut ws,
            json!({"jsonrpc":"2.0","id":1,"method":"runs.start","params":{"intent":"vanish","agent_id":"ghost"}}),
        )
        .await;
        drop(ws);
    }
    let operator = server.connect().await;
    wait_until("every vanished run is swept", async || {
        let list = operator.call_raw("runs.list", json!({"agent_id": "ghost"})).await.unwrap();
        let runs = list["runs"].as_array().unwrap();
        runs.len() == 5 && runs.iter().all(|r| r["status"] == "incomplete")
    })
    .await;
}
