//! One writer after a resume: once `runs.resume` hands a run to a new connection,
//! nothing of the old owner is written, on the journal and on PostgreSQL alike,
//! even a proposal of the old owner that was already in flight.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_client::{Client, ClientError};
use tether_pg::testing::Postgres;
use tokio::sync::{Semaphore, mpsc};

/// A resumable harness as the operator (runs of agent "fence"): `echo` answers its
/// parameters; `gate` tells `entered` it was called, then waits for a permit of `gate`.
async fn harness(server: &TestServer, entered: mpsc::UnboundedSender<()>, gate: Arc<Semaphore>) -> Client {
    let client = server
        .client()
        .require_capability("runs.resume.v1")
        .on_request("tools.execute", move |params: Value| {
            let (entered, gate) = (entered.clone(), gate.clone());
            async move {
                if params["tool"] == "gate" {
                    let _ = entered.send(());
                    let _permit = gate.acquire().await.expect("the gate stays open");
                }
                Ok(params["parameters"].clone())
            }
        })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}, {"name": "gate"}])).await.unwrap();
    client
}

fn proposal(id: &str, actions: &[(&str, &str)]) -> Value {
    let actions: Vec<Value> = actions
        .iter()
        .map(|(id, tool)| json!({"id": id, "type": "tool_call", "tool": tool, "parameters": {"n": id}}))
        .collect();
    json!({"proposal": {"id": id, "actions": actions}})
}

fn assert_fenced(refused: &ClientError, what: &str) {
    let ClientError::Rpc(error) = refused else { panic!("{what}: not an error reply: {refused}") };
    assert_eq!(error.code, tether_proto::codes::RUN_OWNERSHIP_CONFLICT, "{what}: {refused}");
    assert_eq!(error.data.as_ref().and_then(|d| d.get("fenced")), Some(&json!(true)), "{what}: {refused}");
}

/// Owner A's proposal waits in its first tool call while A2 resumes the run and
/// writes a turn; then A's tool answers. Nothing of A's lands after the resume.
async fn resume_during_a_proposal_in_flight(server: &TestServer) -> String {
    let gate = Arc::new(Semaphore::new(0));
    let (entered, mut entered_rx) = mpsc::unbounded_channel();
    let a = harness(server, entered.clone(), gate.clone()).await;
    let started = a.call_raw("runs.start", json!({"intent": "fence", "agent_id": "fence"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    a.call_raw("proposal.submit", proposal("p0", &[("a0", "echo")])).await.unwrap();

    let in_flight = {
        let a = a.clone();
        tokio::spawn(async move {
            a.call_raw("proposal.submit", proposal("p1", &[("a1", "gate"), ("a2", "echo"), ("a3", "echo")])).await
        })
    };
    tokio::time::timeout(Duration::from_secs(10), entered_rx.recv()).await.expect("A's tool is called").unwrap();

    let a2 = harness(server, entered, gate.clone()).await;
    let resumed = a2.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(resumed["records"], 2, "started + a0: {resumed}");
    a2.call_raw("proposal.submit", proposal("p2", &[("b1", "echo")])).await.unwrap();

    // A's tool answers now: its proposal completes without writing a turn.
    gate.add_permits(16);
    let refused = in_flight.await.unwrap().expect_err("the old owner's proposal is refused");
    assert_fenced(&refused, "A's proposal in flight");
    let complete = json!({"run_id": run_id, "outcome": {"status": "success", "summary": "by A"}});
    assert_fenced(&a.call_raw("runs.complete", complete).await.unwrap_err(), "A's runs.complete");
    let cancel = json!({"run_id": run_id, "reason": "A"});
    assert_fenced(&a.call_raw("runs.cancel", cancel).await.unwrap_err(), "A's runs.cancel");
    assert_fenced(&a.call_raw("proposal.submit", proposal("p3", &[("a4", "echo")])).await.unwrap_err(), "A's next");

    a2.call_raw("proposal.submit", proposal("p4", &[("b2", "echo")])).await.unwrap();
    let complete = json!({"run_id": run_id, "outcome": {"status": "success", "summary": "by A2"}});
    a2.call_raw("runs.complete", complete).await.expect("the new owner completes the run");

    let trace = a2.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    let records = trace["records"].as_array().unwrap();
    let actions: Vec<&str> = records.iter().filter_map(|r| r["action_id"].as_str()).collect();
    assert_eq!(actions, ["a0", "b1", "b2"], "nothing of A's after the resume: {trace}");
    let ended = records.last().unwrap();
    assert_eq!(ended["termination"]["outcome"]["summary"], "by A2", "{ended}");
    let list = a2.call_raw("runs.list", json!({"agent_id": "fence"})).await.unwrap();
    assert_eq!(list["runs"][0]["status"], "completed", "{list}");
    run_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_journal_a_resume_fences_the_old_owners_proposal_in_flight_and_its_complete() {
    let server = TestServer::start().await;
    resume_during_a_proposal_in_flight(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_resume_fences_the_old_owners_proposal_in_flight_and_its_complete() {
    let pg = Postgres::start(true).expect("a PostgreSQL server (scripts/postgres-env installs it)");
    pg.create_database("tether").unwrap();
    let setup = Setup { store: Some(tether_pg::PgOptions::new(pg.url("tether"), "n1")), ..Default::default() };
    let server = TestServer::start_setup(setup, |_| {}).await;
    let run_id = resume_during_a_proposal_in_flight(&server).await;
    // What the database holds, not just what the node says.
    let sql = format!(
        "SELECT coalesce(convert_from(payload, 'UTF8')::json->>'action_id', convert_from(payload, 'UTF8')::json->>'record') \
         FROM tether_records WHERE run_id = '{run_id}' ORDER BY seq"
    );
    let rows = pg.psql("tether", &sql).unwrap();
    assert_eq!(rows.lines().collect::<Vec<_>>(), ["started", "a0", "b1", "b2", "ended"], "{rows}");
}
