//! Fork, replay, diff and budgets on PostgreSQL: two daemons on one database, the
//! history written on one node and acted on from the other.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;
use tether_pg::testing::Postgres;

fn node(pg: &Postgres, dir: &Path, i: usize) -> Daemon {
    let config = dir.join("tether.toml");
    let url = pg.url("tether");
    let toml = format!(
        "[store]\nurl = \"{url}\"\nnode_name = \"n{i}\"\nlease_ms = 1000\nheartbeat_ms = 200\nsweep_ms = 200\n"
    );
    std::fs::write(&config, toml).unwrap();
    Daemon::spawn(dir, &["--config", config.to_str().unwrap()])
}

/// `double`: n → 2n, or 2n + `bias` (a changed tool) for n = 7.
async fn harness(daemon: &Daemon, bias: i64) -> Client {
    let client = Client::builder(&daemon.url)
        .token(daemon.token())
        .on_request("tools.execute", move |params: Value| async move {
            let n = params["parameters"]["n"].as_i64().unwrap_or(0);
            Ok(json!({"total": n * 2 + if n == 7 { bias } else { 0 }}))
        })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "double"}])).await.unwrap();
    client
}

fn proposal(id: &str, ns: &[i64]) -> Value {
    let actions: Vec<Value> = ns
        .iter()
        .enumerate()
        .map(|(k, n)| json!({"id": format!("a{}", k + 1), "type": "tool_call", "tool": "double", "parameters": {"n": n}}))
        .collect();
    json!({"proposal": {"id": id, "actions": actions}, "usage": {"input_tokens": 10, "output_tokens": 5}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_replay_diff_and_budgets_work_across_nodes_on_postgres() {
    let pg = Postgres::start(true).expect("a PostgreSQL server (scripts/postgres-env installs it)");
    pg.create_database("tether").unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (n1, n2) = (node(&pg, d1.path(), 1), node(&pg, d2.path(), 2));
    let one = harness(&n1, 0).await;
    let started = one.call_raw("runs.start", json!({"intent": "sum", "agent_id": "bot"})).await.unwrap();
    let source = started["run_id"].as_str().unwrap().to_owned();
    for (p, n) in [("p1", 1), ("p2", 7), ("p3", 3)] {
        one.call_raw("proposal.submit", proposal(p, &[n])).await.unwrap();
    }

    // Forked on node 1: the inherited turns and the fork's own, read on node 2.
    let forked = one.call_raw("runs.fork", json!({"run_id": source, "turns": 2})).await.unwrap();
    let fork = forked["run_id"].as_str().unwrap().to_owned();
    one.call_raw("proposal.submit", proposal("p4", &[5])).await.unwrap();
    let two = harness(&n2, 1).await;
    let page = two.call_raw("runs.get_trace", json!({"run_id": fork})).await.unwrap();
    let records = page["records"].as_array().unwrap();
    assert_eq!(records[0]["forked_from"], json!({"run_id": source, "turns": 2}));
    let inherited: Vec<bool> = records[1..].iter().map(|r| r["inherited"] == true).collect();
    assert_eq!(inherited, [true, true, false]);

    // Replayed on node 2, whose `double` changed for 7.
    let replayed = two.call_raw("runs.replay", json!({"run_id": source})).await.unwrap();
    assert_eq!(replayed["diff"]["counts"], json!({"same": 2, "changed": 1, "only_in_a": 0, "only_in_b": 0}));
    assert_eq!(replayed["diff"]["pairs"][1]["changes"][0]["path"], "/output/total");
    let replay = replayed["run_id"].as_str().unwrap().to_owned();
    let detail = one.call_raw("runs.get", json!({"run_id": replay})).await.unwrap();
    assert_eq!(detail["replay_of"], source);
    let same = two.call_raw("runs.diff", json!({"run_id": source, "other_run_id": source})).await.unwrap();
    assert_eq!(same["counts"]["same"], 3);

    // A run with a budget of 1 call on node 1: the second waits on an approval,
    // which node 2's operator allows with a raise; node 1's proposal then runs.
    let budgeted = one
        .call_raw("runs.start", json!({"intent": "b", "agent_id": "bot", "budget": {"max_tool_calls": 1}}))
        .await
        .unwrap();
    let budgeted = budgeted["run_id"].as_str().unwrap().to_owned();
    one.call_raw("proposal.submit", proposal("p1", &[1])).await.unwrap();
    let submitting = {
        let one = one.clone();
        tokio::spawn(async move { one.call_raw("proposal.submit", proposal("p5", &[9])).await })
    };
    let mut found = None;
    wait_until("node 2 lists node 1's budget approval", async || {
        let listed = two.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        found = listed.as_array().unwrap().iter().find(|a| a["kind"] == "budget").cloned();
        found.is_some()
    })
    .await;
    let id = found.unwrap()["approval_id"].as_str().unwrap().to_owned();
    two.call_raw("approvals.resolve", json!({"approval_id": id, "decision": "allow", "raise": 2})).await.unwrap();
    let result = submitting.await.unwrap().unwrap();
    assert_eq!(result["results"][0]["status"], "succeeded", "{result}");
    let detail = two.call_raw("runs.get", json!({"run_id": budgeted})).await.unwrap();
    assert_eq!(detail["usage"]["tool_calls"], 2);
    assert_eq!(detail["usage"]["input_tokens"], 20);
    assert_eq!(detail["budget"]["max_tool_calls"], 3);

    // Node 1 dies and starts again on the same database: the fork, the replay's origin,
    // the raised budget and the usage all read the same, and the source replays again.
    drop(one);
    drop(n1);
    let n1 = node(&pg, d1.path(), 1);
    let one = harness(&n1, 0).await;
    let detail = one.call_raw("runs.get", json!({"run_id": budgeted})).await.unwrap();
    assert_eq!(detail["budget"]["max_tool_calls"], 3);
    assert_eq!((detail["usage"]["tool_calls"].clone(), detail["usage"]["input_tokens"].clone()), (json!(2), json!(20)));
    let detail = one.call_raw("runs.get", json!({"run_id": fork})).await.unwrap();
    assert_eq!(detail["forked_from"], json!({"run_id": source, "turns": 2}));
    assert_eq!(one.call_raw("runs.get", json!({"run_id": replay})).await.unwrap()["replay_of"], source);
    let again = one.call_raw("runs.replay", json!({"run_id": source})).await.unwrap();
    assert_eq!(again["diff"]["counts"]["same"], 3, "node 1's `double` is the original");
}
