//! The runs domain in process, without a socket: each test builds `Caller`s by hand
//! (a `Connection` it closes itself, a `Peer` double that answers `tools.execute`)
//! and calls `Runs` as the handlers do. The wire itself is proved in `tests/runs.rs`.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tether_core::{AgentId, BoxFuture, BuildParams, CallError, Caller, Closed, Connection, Peer, Principal, RpcError};
use tether_proto::ErrorObject;
use tether_proto::runs::{REATTACH_CAPABILITY, RESUME_CAPABILITY, SubscribeParams, TracePage};
use tether_proto::tools::ExecuteParams;
use tether_runs::{Runs, RunsConfig, RunsError};
use tether_store::{Journal, JournalOptions, RealFsync};

/// What the client double does with one `tools.execute`.
enum Answer {
    Reply(Result<Value, ErrorObject>),
    /// The client drops mid-call: its connection closes, the call fails.
    Drop,
}

/// A client that answers `tools.execute` by tool name and keeps what it was sent.
struct Harness {
    connection: Connection,
    executed: Mutex<Vec<ExecuteParams>>,
    notified: Mutex<Vec<(String, Value)>>,
}

impl Harness {
    fn answer(&self, params: &ExecuteParams) -> Answer {
        match params.tool.as_str() {
            "echo" => Answer::Reply(Ok(params.parameters.clone())),
            "fail" => Answer::Reply(Err(ErrorObject::new(-1, "boom"))),
            "drop" => Answer::Drop,
            other => Answer::Reply(Err(ErrorObject::new(-1, format!("no tool {other}")))),
        }
    }

    fn tools_run(&self) -> Vec<String> {
        self.executed.lock().iter().map(|p| p.action_id.clone()).collect()
    }
}

impl Peer for Harness {
    fn call<'a>(
        &'a self,
        method: &'static str,
        build: BuildParams<'a>,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        let params: ExecuteParams = serde_json::from_str(&build.text("cb-1")).expect("tools.execute params");
        assert_eq!(method, "tools.execute");
        let answer = self.answer(&params);
        self.executed.lock().push(params);
        Box::pin(async move {
            match answer {
                Answer::Reply(Ok(value)) => Ok(value),
                Answer::Reply(Err(error)) => Err(CallError::Remote { method: method.into(), error }),
                Answer::Drop => {
                    self.connection.close();
                    Err(CallError::Disconnected { method: method.into() })
                }
            }
        })
    }

    fn notify<'a>(
        &'a self,
        method: &'static str,
        params: Box<RawValue>,
        _politely: bool,
    ) -> BoxFuture<'a, Result<(), Closed>> {
        let params = serde_json::from_str(params.get()).expect("JSON");
        self.notified.lock().push((method.to_owned(), params));
        Box::pin(async { Ok(()) })
    }
}

/// One open connection of a client, with the capabilities it negotiated.
fn caller(id: u64, capabilities: &[&str]) -> (Caller, Arc<Harness>) {
    let connection = Connection::new(id);
    let harness =
        Arc::new(Harness { connection: connection.clone(), executed: Mutex::default(), notified: Mutex::default() });
    let principal = Principal::Agent(AgentId::new("bot"));
    let caller = Caller::new(principal, connection, harness.clone()).with_capabilities(capabilities.iter().copied());
    (caller, harness)
}

async fn open(dir: &tempfile::TempDir, config: RunsConfig) -> Arc<Runs> {
    let (journal, recovered) =
        Journal::open(&dir.path().join("journal"), JournalOptions::default(), Arc::new(RealFsync)).unwrap();
    let events = tether_events::EventBus::new(Default::default());
    Runs::open(Arc::new(journal), recovered, config, events, Arc::new(tether_telemetry::Nobody)).await.unwrap()
}

fn quick() -> RunsConfig {
    RunsConfig { disconnect_grace_ms: 20, resume_lease_ms: 20, reattach_grace_ms: 60_000, ..RunsConfig::default() }
}

fn params<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("params")
}

async fn start(runs: &Runs, caller: &Caller) -> (String, Option<String>) {
    let started = runs.start(caller, params(json!({"intent": "test"}))).await.unwrap();
    (started.run_id, started.resume_token)
}

async fn register(runs: &Runs, caller: &Caller) {
    let tools = params(json!([{"name": "echo"}, {"name": "fail"}, {"name": "drop"}]));
    assert_eq!(runs.register_tools(caller, tools).await.unwrap(), 3);
}

fn proposal(id: &str, actions: &[(&str, &str)]) -> tether_proto::proposal::SubmitParams {
    let actions: Vec<Value> = actions
        .iter()
        .map(|(id, tool)| json!({"id": id, "type": "tool_call", "tool": tool, "parameters": {"from": id}}))
        .collect();
    params(json!({"proposal": {"id": id, "actions": actions}}))
}

fn statuses(result: &tether_proto::proposal::SubmitResult) -> Vec<String> {
    result.results.iter().map(|r| serde_json::to_value(r.status).unwrap().as_str().unwrap().to_owned()).collect()
}

/// Every record of the run, as the trace serves them.
async fn records(runs: &Runs, caller: &Caller, run_id: &str) -> Vec<Value> {
    let trace = runs.trace(caller, params(json!({"run_id": run_id}))).await.unwrap();
    let page: TracePage = serde_json::from_str(trace.as_json()).expect("the run's trace");
    page.records.iter().map(|r| serde_json::to_value(r).unwrap()).collect()
}

async fn status(runs: &Runs, caller: &Caller, run_id: &str) -> String {
    let listed = runs.list(caller, params(json!({}))).await.unwrap();
    let run = listed.runs.iter().find(|r| r.run_id == run_id).expect("listed");
    serde_json::to_value(run.status).unwrap().as_str().unwrap().to_owned()
}

/// The error's wire form, as core shapes it.
fn wire(error: RunsError) -> ErrorObject {
    ErrorObject::from(&RpcError::from(error))
}

#[tokio::test]
async fn start_submit_and_complete_journal_each_turn() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (alice, client) = caller(1, &[]);
    register(&runs, &alice).await;
    let (run_id, token) = start(&runs, &alice).await;
    assert_eq!(token, None, "no reattach capability, no token");

    let result = runs.submit(&alice, proposal("p1", &[("a1", "echo"), ("a2", "fail"), ("a3", "echo")])).await.unwrap();
    assert_eq!(statuses(&result), ["succeeded", "failed", "skipped"], "a failure aborts the rest by default");
    assert_eq!(result.results[0].output, Some(json!({"from": "a1"})));
    assert_eq!(client.tools_run(), ["a1", "a2"]);
    let sent = client.executed.lock()[0].clone();
    assert_eq!(sent.call_id, format!("{run_id}:p1:a1:1"));
    assert!(!sent.redelivery);

    let outcome = json!({"status": "success", "summary": "done"});
    runs.complete(&alice, params(json!({"run_id": run_id, "outcome": outcome}))).await.unwrap();
    let kinds: Vec<Value> = records(&runs, &alice, &run_id).await.iter().map(|r| r["record"].clone()).collect();
    assert_eq!(kinds, [json!("started"), json!("turn"), json!("turn"), json!("turn"), json!("ended")]);
    assert_eq!(status(&runs, &alice, &run_id).await, "completed");

    // Ended: a second completion is refused, naming the status.
    let again = runs.complete(&alice, params(json!({"run_id": run_id, "outcome": outcome}))).await.unwrap_err();
    assert!(matches!(again, RunsError::AlreadyEnded { .. }), "{again}");
}

#[tokio::test]
async fn a_tool_another_connection_registered_is_rejected_unsent() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (alice, _) = caller(1, &[]);
    let (bob, bobs_client) = caller(2, &[]);
    register(&runs, &alice).await;
    start(&runs, &bob).await;
    let result = runs.submit(&bob, proposal("p1", &[("a1", "echo")])).await.unwrap();
    assert_eq!(statuses(&result), ["rejected"]);
    assert!(bobs_client.tools_run().is_empty());
    assert_eq!(runs.tools_of(&alice).len(), 3);
    assert!(runs.unregister_tool(&alice, "echo") && !runs.unregister_tool(&alice, "echo"));
}

#[tokio::test]
async fn cancel_ends_the_run_and_its_proposals_are_journalled_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (alice, client) = caller(1, &[]);
    register(&runs, &alice).await;
    let (run_id, _) = start(&runs, &alice).await;
    runs.cancel(&alice, params(json!({"run_id": run_id, "reason": "changed my mind"}))).await.unwrap();
    assert_eq!(status(&runs, &alice, &run_id).await, "cancelled");
    let last = records(&runs, &alice, &run_id).await.pop().unwrap();
    assert_eq!(last["termination"]["reason"], "changed my mind", "{last}");

    // No current run any more: the proposal runs, and nothing is added to the trace.
    let result = runs.submit(&alice, proposal("p1", &[("a1", "echo")])).await.unwrap();
    assert_eq!(statuses(&result), ["succeeded"]);
    assert_eq!(client.tools_run(), ["a1"]);
    assert_eq!(records(&runs, &alice, &run_id).await.len(), 2);
}

#[tokio::test]
async fn a_resume_fences_the_old_connection_out() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (old, _) = caller(1, &[RESUME_CAPABILITY]);
    let (new, _) = caller(2, &[RESUME_CAPABILITY]);
    register(&runs, &old).await;
    register(&runs, &new).await;
    let (run_id, _) = start(&runs, &old).await;
    runs.submit(&old, proposal("p1", &[("a1", "echo")])).await.unwrap();

    let resumed = runs.resume(&new, params(json!({"run_id": run_id}))).await.unwrap();
    assert_eq!(resumed.records, 2);

    let refused = wire(runs.submit(&old, proposal("p2", &[("a2", "echo")])).await.unwrap_err());
    assert_eq!((refused.code, refused.data.clone()), (-32010, Some(json!({"run_id": run_id, "fenced": true}))));
    let outcome = json!({"status": "success"});
    let refused = wire(runs.complete(&old, params(json!({"run_id": run_id, "outcome": outcome}))).await.unwrap_err());
    assert_eq!(refused.code, -32010);

    runs.submit(&new, proposal("p2", &[("a2", "echo")])).await.unwrap();
    runs.complete(&new, params(json!({"run_id": run_id, "outcome": outcome}))).await.unwrap();
    assert_eq!(records(&runs, &new, &run_id).await.len(), 4, "started, a1, a2, ended: nothing of the old owner's");

    // Without the capability, resume says which one to negotiate.
    let (plain, _) = caller(3, &[]);
    let refused = wire(runs.resume(&plain, params(json!({"run_id": run_id}))).await.unwrap_err());
    assert_eq!(
        (refused.code, refused.data),
        (-32008, Some(json!({"missing": [RESUME_CAPABILITY], "supported": true})))
    );
}

#[tokio::test]
async fn a_reattached_run_answers_journalled_actions_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let both = [RESUME_CAPABILITY, REATTACH_CAPABILITY];
    let (first, first_client) = caller(1, &both);
    register(&runs, &first).await;
    let (run_id, token) = start(&runs, &first).await;
    let token = token.expect("a reattachable run has a resume token");

    // The client drops during a2: a2 is not journalled, so it can be delivered again.
    let cut = runs.submit(&first, proposal("p1", &[("a1", "echo"), ("a2", "drop")])).await.unwrap_err();
    assert_eq!(wire(cut).code, -32010);
    assert_eq!(first_client.tools_run(), ["a1", "a2"]);
    assert_eq!(records(&runs, &first, &run_id).await.len(), 2, "started and a1 only");
    assert_eq!(status(&runs, &first, &run_id).await, "detached", "its owner left; the run waits");

    let (second, second_client) = caller(2, &both);
    register(&runs, &second).await;
    let wrong = runs.resume(&second, params(json!({"run_id": run_id, "resume_token": "trt_nope"}))).await;
    let refused = wire(wrong.unwrap_err());
    assert_eq!((refused.code, refused.data), (-32010, Some(json!({"run_id": run_id, "fenced": false}))));
    runs.resume(&second, params(json!({"run_id": run_id, "resume_token": token}))).await.unwrap();
    assert_eq!(status(&runs, &second, &run_id).await, "in_progress");

    let result = runs.submit(&second, proposal("p1", &[("a1", "echo"), ("a2", "echo")])).await.unwrap();
    assert_eq!(statuses(&result), ["succeeded", "succeeded"]);
    assert_eq!(result.results[0].output, Some(json!({"from": "a1"})), "a1 answered from the journal");
    assert_eq!(second_client.tools_run(), ["a2"], "only what was not journalled runs again");
    let again = second_client.executed.lock()[0].clone();
    assert!(again.redelivery, "a proposal submitted again flags its calls");
    assert_eq!(again.call_id, format!("{run_id}:p1:a2:1"), "the same call_id as the cut call");
}

#[tokio::test]
async fn a_closed_connection_s_runs_are_swept_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (alice, _) = caller(1, &[]);
    let (operator, _) = {
        let connection = Connection::new(9);
        let harness = Arc::new(Harness {
            connection: connection.clone(),
            executed: Mutex::default(),
            notified: Mutex::default(),
        });
        (Caller::new(Principal::Operator, connection, harness.clone()), harness)
    };
    let (run_id, _) = start(&runs, &alice).await;
    alice.connection().close();
    assert_eq!(status(&runs, &operator, &run_id).await, "in_progress", "the grace runs first");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status(&runs, &operator, &run_id).await, "incomplete");

    // A run started by a request that raced the close is swept all the same: the
    // state it went into is that request's alone, and dropped with it.
    let (bob, _) = caller(2, &[]);
    bob.connection().close();
    let (late, _) = start(&runs, &bob).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(status(&runs, &operator, &late).await, "incomplete");
}

#[tokio::test]
async fn a_subscriber_gets_each_later_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (alice, _) = caller(1, &[]);
    let (watcher, watching) = caller(2, &[]);
    register(&runs, &alice).await;
    let (run_id, _) = start(&runs, &alice).await;
    let subscribed = runs
        .subscribe(&watcher, SubscribeParams { run_id: run_id.clone(), from_cursor: None })
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((subscribed.snapshot.parse().unwrap().len(), subscribed.live_cursor), (1, 1));
    runs.submit(&alice, proposal("p1", &[("a1", "echo")])).await.unwrap();
    for _ in 0..100 {
        if !watching.notified.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let notified = watching.notified.lock().clone();
    assert_eq!(notified.len(), 1, "{notified:?}");
    assert_eq!((notified[0].0.as_str(), &notified[0].1["cursor"]), ("runs.trace.event", &json!(1)));
    assert!(runs.unsubscribe(&watcher, &run_id).unwrap().ok);
}

#[tokio::test]
async fn an_idempotency_key_names_one_run_for_its_connection_and_conflicts_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir, quick()).await;
    let (alice, _) = caller(1, &[]);
    let (bob, _) = caller(2, &[]);
    let keyed = || params(json!({"intent": "once", "idempotency_key": "k-1"}));
    let first = runs.start(&alice, keyed()).await.unwrap();
    let again = runs.start(&alice, keyed()).await.unwrap();
    assert_eq!(first.run_id, again.run_id, "the same connection gets its run back");
    let refused = wire(runs.start(&bob, keyed()).await.unwrap_err());
    assert_eq!((refused.code, refused.data), (-32010, Some(json!({"run_id": null, "fenced": false}))));
}
