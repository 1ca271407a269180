//! Three daemons on one PostgreSQL behave as one: the real binary, a real
//! server (Debian's, started per test in a temporary directory), real sockets.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;
use tether_pg::testing::Postgres;

/// Lease 1 s, renewed every 200 ms, dead nodes looked for every 200 ms: a dead
/// node's runs end within lease + sweep + a commit (documented as lease + 2 × sweep).
const LEASE_MS: u64 = 1_000;

struct Fleet {
    pg: Postgres,
    nodes: Vec<Daemon>,
    _dirs: Vec<tempfile::TempDir>,
}

fn fleet(n: usize) -> Fleet {
    let pg = Postgres::start(true).expect("a PostgreSQL server (scripts/postgres-env installs it)");
    pg.create_database("tether").unwrap();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for i in 1..=n {
        let dir = tempfile::tempdir().unwrap();
        nodes.push(node(&pg, dir.path(), i));
        dirs.push(dir);
    }
    Fleet { pg, nodes, _dirs: dirs }
}

fn node(pg: &Postgres, dir: &Path, i: usize) -> Daemon {
    let config = dir.join("tether.toml");
    let url = pg.url("tether");
    let policy = policy_fixture();
    let toml = format!(
        "[store]\nurl = \"{url}\"\nnode_name = \"n{i}\"\nlease_ms = {LEASE_MS}\nheartbeat_ms = 200\nsweep_ms = 200\n\
         [hooks]\npolicy_file = {policy:?}\n"
    );
    std::fs::write(&config, toml).unwrap();
    Daemon::spawn(dir, &["--config", config.to_str().unwrap()])
}

async fn harness(daemon: &Daemon) -> Client {
    echo_harness(daemon, &["runs.resume.v1"]).await
}

async fn operator(daemon: &Daemon) -> Client {
    Client::builder(&daemon.url).token(daemon.token()).optional_capability("runs.resume.v1").connect().await.unwrap()
}

async fn submit(client: &Client, id: &str) -> Result<Value, tether_client::ClientError> {
    let actions = json!([{"id": id, "type": "tool_call", "tool": "echo", "parameters": {"n": id}}]);
    client.call_raw("proposal.submit", json!({"proposal": {"id": format!("p-{id}"), "actions": actions}})).await
}

async fn trace(client: &Client, run_id: &str) -> Vec<Value> {
    let page = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    page["records"].as_array().unwrap_or_else(|| panic!("{page}")).clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_one_node_is_read_from_the_others() {
    let fleet = fleet(3);
    let n1 = harness(&fleet.nodes[0]).await;
    let started = n1.call_raw("runs.start", json!({"intent": "shared", "agent_id": "fleet"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        submit(&n1, &format!("a{i}")).await.unwrap();
    }
    let (n2, n3) = (operator(&fleet.nodes[1]).await, operator(&fleet.nodes[2]).await);
    let on_n1 = trace(&n1, &run_id).await;
    assert_eq!(on_n1.len(), 6, "started + 5 turns");
    assert_eq!(trace(&n2, &run_id).await, on_n1, "node 2 reads what node 1 acknowledged");
    assert_eq!(trace(&n3, &run_id).await, on_n1, "node 3 too");
    let page = n2.call_raw("runs.get_trace", json!({"run_id": run_id, "cursor": 2, "limit": 2})).await.unwrap();
    assert_eq!(page["records"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_cursor"], 4, "{page}");
    let outcome = json!({"status": "success", "summary": "done", "evidence": [], "metrics": {}, "timestamp": "2026-11-22T00:00:00Z"});
    n1.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();
    let last = trace(&n3, &run_id).await.pop().unwrap();
    assert_eq!(last["record"], "ended", "{last}");
    // Unknown runs read alike everywhere.
    let missing = n2.call_raw("runs.get_trace", json!({"run_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"})).await.unwrap();
    assert_eq!(missing["not_found"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_writes_loses_no_acknowledged_turn_and_its_runs_end_incomplete() {
    let mut fleet = fleet(2);
    let n1 = harness(&fleet.nodes[0]).await;
    let started = n1.call_raw("runs.start", json!({"intent": "doomed", "agent_id": "victim"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let writer = tokio::spawn(async move {
        let mut acknowledged = 0;
        for i in 0.. {
            if submit(&n1, &format!("a{i}")).await.is_err() {
                break;
            }
            acknowledged += 1;
        }
        acknowledged
    });
    let n2 = operator(&fleet.nodes[1]).await;
    // Kill once some turns are in.
    let deadline = Instant::now() + Duration::from_secs(20);
    while trace(&n2, &run_id).await.len() < 20 {
        assert!(Instant::now() < deadline, "turns never reached the database");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fleet.nodes[0].child.kill().unwrap();
    let killed = Instant::now();
    fleet.nodes[0].child.wait().unwrap();
    let acknowledged = writer.await.unwrap();
    let ended = loop {
        let records = trace(&n2, &run_id).await;
        if records.last().is_some_and(|r| r["record"] == "ended") {
            break records;
        }
        assert!(killed.elapsed() < Duration::from_secs(15), "the dead node's run was never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = killed.elapsed();
    assert!(took < Duration::from_millis(LEASE_MS + 2_000), "ended {took:?} after the kill");
    let turns = ended.iter().filter(|r| r["record"] == "turn").count();
    assert!(turns >= acknowledged, "{turns} turns stored, {acknowledged} acknowledged");
    assert!(turns <= acknowledged + 1, "at most the one in flight lands unacknowledged");
    assert_eq!(ended.last().unwrap()["termination"]["kind"], "incomplete");
    let list = n2.call_raw("runs.list", json!({"agent_id": "victim"})).await.unwrap();
    assert_eq!(list["runs"][0]["status"], "incomplete", "{list}");
    // Contiguous seqs in the database, whoever wrote them.
    let gaps = fleet.pg.psql("tether", &format!(
        "SELECT count(*) FROM tether_records WHERE run_id = '{run_id}' AND seq >= (SELECT count(*) FROM tether_records WHERE run_id = '{run_id}')"
    )).unwrap();
    assert_eq!(gaps, "0");
    eprintln!("takeover: the killed node's run ended {took:?} after kill -9 (lease {LEASE_MS} ms)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_its_run_on_another_node_and_the_old_node_is_fenced() {
    let fleet = fleet(3);
    let on_n1 = harness(&fleet.nodes[0]).await;
    let started = on_n1.call_raw("runs.start", json!({"intent": "moving", "agent_id": "mover"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    submit(&on_n1, "a0").await.unwrap();
    submit(&on_n1, "a1").await.unwrap();

    let on_n2 = harness(&fleet.nodes[1]).await;
    let resumed = on_n2.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(resumed["records"], 3, "{resumed}");
    // A proposal submitted again is answered from what node 1 journalled, not run again.
    let again = submit(&on_n2, "a1").await.unwrap();
    assert_eq!(again["results"][0]["output"], json!({"n": "a1"}));
    submit(&on_n2, "a2").await.unwrap();

    // Node 1's connection is stale: its write is refused, typed, and the socket closed.
    let refused = submit(&on_n1, "zombie").await.unwrap_err();
    assert_eq!(refused.code(), Some(tether_proto::codes::RUN_OWNERSHIP_CONFLICT), "{refused}");
    tokio::time::timeout(Duration::from_secs(10), on_n1.closed()).await.expect("the stale socket is closed");

    let n3 = operator(&fleet.nodes[2]).await;
    let records = trace(&n3, &run_id).await;
    let actions: Vec<&str> = records.iter().filter_map(|r| r["action_id"].as_str()).collect();
    assert_eq!(actions, ["a0", "a1", "a2"], "each action once, nothing from the fenced node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_is_fenced_when_it_wakes() {
    let fleet = fleet(2);
    let on_n1 = harness(&fleet.nodes[0]).await;
    let started = on_n1.call_raw("runs.start", json!({"intent": "paused", "agent_id": "sleeper"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    submit(&on_n1, "a0").await.unwrap();
    fleet.nodes[0].signal("STOP");
    let n2 = operator(&fleet.nodes[1]).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while trace(&n2, &run_id).await.last().is_none_or(|r| r["record"] != "ended") {
        assert!(Instant::now() < deadline, "node 2 never took the paused node's run over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fleet.nodes[0].signal("CONT");
    let refused = submit(&on_n1, "late").await.unwrap_err();
    assert!(refused.code().is_some(), "a refusal, not a success: {refused}");
    let records = trace(&n2, &run_id).await;
    assert_eq!(records.len(), 3, "started, a0, ended: nothing after the takeover");
    // It is back as a new node, and works.
    let fresh = harness(&fleet.nodes[0]).await;
    fresh.call_raw("runs.start", json!({"intent": "after", "agent_id": "sleeper-2"})).await.unwrap();
    submit(&fresh, "b0").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_metrics_show_the_node_and_its_lease() {
    let fleet = fleet(1);
    let daemon = &fleet.nodes[0];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["status", "--url", &daemon.url])
        .env("TETHER_TOKEN", daemon.token())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("store: postgres, node "), "{text}");
    let metrics = http_get(daemon, "/metrics").await;
    assert!(metrics.contains("tether_store_info{kind=\"postgres\""), "{metrics}");
    assert!(metrics.contains("tether_store_lease_age_seconds"), "{metrics}");
}

async fn http_get(daemon: &Daemon, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        daemon.addr,
        daemon.token()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_followed_live_from_other_nodes_with_no_gap_and_no_duplicate() {
    let fleet = fleet(3);
    let writer = harness(&fleet.nodes[0]).await;
    let started = writer.call_raw("runs.start", json!({"intent": "watched", "agent_id": "watched"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        submit(&writer, &format!("a{i}")).await.unwrap();
    }
    // Two followers on two other nodes join mid-run.
    let mut followers = Vec::new();
    for node in &fleet.nodes[1..] {
        let follower = operator(node).await;
        let subscribed = follower.call_raw("runs.subscribe", json!({"run_id": run_id})).await.unwrap();
        let live = subscribed["live_cursor"].as_u64().unwrap();
        assert_eq!(subscribed["snapshot"].as_array().unwrap().len() as u64, live, "{subscribed}");
        followers.push((follower, live));
    }
    for i in 5..25 {
        submit(&writer, &format!("a{i}")).await.unwrap();
    }
    let outcome = json!({"status": "success", "summary": "done", "evidence": [], "metrics": {}, "timestamp": "2026-11-22T00:00:00Z"});
    writer.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();
    let total = 1 + 25 + 1;
    for (follower, live) in followers {
        let mut cursors = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), follower.next_notification())
                .await
                .expect("a live record from the other node")
                .unwrap();
            assert_eq!(event.method, "runs.trace.event");
            cursors.push(event.params["cursor"].as_u64().unwrap());
            if event.params["record"]["record"] == "ended" {
                assert_eq!(event.params["status"], "completed");
                break;
            }
        }
        assert_eq!(
            cursors,
            (live..total as u64).collect::<Vec<_>>(),
            "every record once, in order, after the snapshot"
        );
        let ack = follower.call_raw("runs.unsubscribe", json!({"run_id": run_id})).await.unwrap();
        assert_eq!(ack["ok"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_waiting_on_one_node_is_resolved_on_another_once() {
    let fleet = fleet(3);
    let agent = operator(&fleet.nodes[0]).await;
    let hook = json!({"session_id": "s-fleet", "hook_event_name": "PreToolUse", "tool_name": "WebFetch",
        "tool_input": {"url": "https://example.com"}, "wait_ms": 20_000});
    let waiting = tokio::spawn(async move { agent.call_raw("hooks.ingest", hook).await.unwrap() });
    let (n2, n3) = (operator(&fleet.nodes[1]).await, operator(&fleet.nodes[2]).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    let approval_id = loop {
        let pending = n2.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
        if let Some(id) = pending[0]["approval_id"].as_str() {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "node 2 never listed node 1's approval");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Two operators answer at once on two nodes: one wins, the other is told it is settled.
    let allow = json!({"approval_id": approval_id, "decision": "allow", "reason": "fine from node 2"});
    let deny = json!({"approval_id": approval_id, "decision": "deny", "reason": "no from node 3"});
    let (a, b) = tokio::join!(n2.call_raw("approvals.resolve", allow), n3.call_raw("approvals.resolve", deny));
    assert!(a.is_ok() != b.is_ok(), "exactly one resolution wins: {a:?} {b:?}");
    let winner = a.as_ref().or(b.as_ref()).unwrap().clone();
    let resolved = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting).await.unwrap().unwrap();
    let expected = if winner["state"] == "allowed" { "allow" } else { "deny" };
    assert_eq!(answer["decision"], expected, "{answer}");
    assert_eq!(answer["reason"], winner["reason"]);
    assert!(resolved.elapsed() < Duration::from_secs(2), "the waiting hook heard within {:?}", resolved.elapsed());
    // Every node now lists it settled, the same way.
    for node in [&n2, &n3] {
        let listed = node.call_raw("approvals.list", json!({})).await.unwrap();
        let found =
            listed.as_array().unwrap().iter().find(|a| a["approval_id"] == approval_id.as_str()).cloned().unwrap();
        assert_eq!(found["state"], winner["state"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_and_idempotency_keys_hold_across_nodes() {
    let fleet = fleet(3);
    let (n1, n2, n3) =
        (harness(&fleet.nodes[0]).await, harness(&fleet.nodes[1]).await, operator(&fleet.nodes[2]).await);
    let mut started = Vec::new();
    for (i, node) in [&n1, &n2, &n1, &n2, &n1].into_iter().enumerate() {
        let run = node.call_raw("runs.start", json!({"intent": format!("r{i}"), "agent_id": "lister"})).await.unwrap();
        started.push(run["run_id"].as_str().unwrap().to_owned());
        if i < 3 {
            let outcome = json!({"status": "success", "summary": "ok", "evidence": [], "metrics": {}, "timestamp": "2026-11-22T00:00:00Z"});
            node.call_raw("runs.complete", json!({"run_id": run["run_id"], "outcome": outcome})).await.unwrap();
        }
    }
    // Paged on a third node: every run once, newest first.
    let mut listed = Vec::new();
    let mut cursor = 0;
    loop {
        let page = n3.call_raw("runs.list", json!({"agent_id": "lister", "limit": 2, "cursor": cursor})).await.unwrap();
        listed.extend(page["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_u64() {
            Some(next) => cursor = next,
            None => break,
        }
    }
    started.reverse();
    assert_eq!(listed, started, "all five, newest first, across nodes");
    let open = n3.call_raw("runs.list", json!({"agent_id": "lister", "status": "in_progress"})).await.unwrap();
    assert_eq!(open["runs"].as_array().unwrap().len(), 2, "{open}");

    // One run per key, whichever node is asked.
    let keyed = json!({"intent": "once", "agent_id": "keyed", "idempotency_key": "k-1"});
    n1.call_raw("runs.start", keyed.clone()).await.unwrap();
    let again = n2.call_raw("runs.start", keyed).await.unwrap_err();
    assert_eq!(again.code(), Some(tether_proto::codes::RUN_OWNERSHIP_CONFLICT), "{again}");
    // Two nodes at once under a new key: one run.
    let raced = json!({"intent": "race", "agent_id": "racer", "idempotency_key": "k-2"});
    let (a, b) = tokio::join!(n1.call_raw("runs.start", raced.clone()), n2.call_raw("runs.start", raced));
    assert!(a.is_ok() != b.is_ok(), "exactly one start wins: {a:?} {b:?}");
    let racers = n3.call_raw("runs.list", json!({"agent_id": "racer"})).await.unwrap();
    assert_eq!(racers["runs"].as_array().unwrap().len(), 1, "{racers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_on_one_node_reach_subscribers_on_the_others_once() {
    let fleet = fleet(3);
    let mut watchers = Vec::new();
    for node in &fleet.nodes[1..] {
        let watcher = operator(node).await;
        watcher.call_raw("events.subscribe", json!({"families": ["runtime.status"]})).await.unwrap();
        watchers.push(watcher);
    }
    let n1 = harness(&fleet.nodes[0]).await;
    // The readers start at the end of the log: publish until the first event arrives.
    let mut run_ids = Vec::new();
    let first = loop {
        let run = n1.call_raw("runs.start", json!({"intent": "announced", "agent_id": "herald"})).await.unwrap();
        run_ids.push(run["run_id"].as_str().unwrap().to_owned());
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(500), watchers[0].next_notification()).await
        {
            break event;
        }
        assert!(run_ids.len() < 20, "node 2 never saw node 1's events");
    };
    assert_eq!(first.method, "events.event");
    // From here on, each run node 1 starts reaches both other nodes exactly once.
    let marked = n1.call_raw("runs.start", json!({"intent": "marked", "agent_id": "herald"})).await.unwrap();
    let marked = marked["run_id"].as_str().unwrap();
    // A later event from the same node closes the window a duplicate would fall in:
    // node 1's events reach the others in the order it published them.
    let closing = n1.call_raw("runs.start", json!({"intent": "closing", "agent_id": "herald"})).await.unwrap();
    let closing = closing["run_id"].as_str().unwrap();
    for watcher in &watchers {
        let mut seen = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            let event =
                tokio::time::timeout(left, watcher.next_notification()).await.expect("the marked run's event").unwrap();
            if event.params["event"]["run_id"] == marked && event.params["event"]["kind"] == "run.started" {
                seen += 1;
            }
        }
        // No duplicate before the closing run's event.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = tokio::time::timeout(left, watcher.next_notification())
                .await
                .expect("the closing run's event")
                .unwrap();
            let (run, kind) = (&event.params["event"]["run_id"], &event.params["event"]["kind"]);
            assert!(!(run == marked && kind == "run.started"), "a duplicate: {}", event.params);
            if run == closing && kind == "run.started" {
                break;
            }
        }
        let recent = watcher.call_raw("events.recent", json!({"limit": 100})).await.unwrap();
        assert!(recent.to_string().contains(marked), "events.recent has it too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_resumes_on_two_nodes_leave_one_writer() {
    let fleet = fleet(3);
    let owner = harness(&fleet.nodes[0]).await;
    let started = owner.call_raw("runs.start", json!({"intent": "contested", "agent_id": "contested"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    submit(&owner, "a0").await.unwrap();
    let (b, c) = (harness(&fleet.nodes[1]).await, harness(&fleet.nodes[2]).await);
    let resume = json!({"run_id": run_id});
    let (rb, rc) = tokio::join!(b.call_raw("runs.resume", resume.clone()), c.call_raw("runs.resume", resume));
    assert!(rb.is_ok() || rc.is_ok(), "{rb:?} {rc:?}");
    let (wb, wc) = tokio::join!(submit(&b, "b1"), submit(&c, "c1"));
    assert!(wb.is_ok() != wc.is_ok(), "exactly one node may write the run: {wb:?} {wc:?}");
    let refused = wb.as_ref().err().or(wc.as_ref().err()).unwrap();
    assert_eq!(refused.code(), Some(tether_proto::codes::RUN_OWNERSHIP_CONFLICT), "{refused}");
    assert!(submit(&owner, "a1").await.is_err(), "and not the first owner either");
    let records = trace(&operator(&fleet.nodes[0]).await, &run_id).await;
    assert_eq!(records.len(), 3, "started, a0, and the winner's turn: {records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_pending_when_its_client_drops_from_one_node_completes_once_on_another() {
    let fleet = fleet(2);
    // Node 1's client holds the call and never answers: then it is gone.
    let stuck = Client::builder(&fleet.nodes[0].url)
        .token(fleet.nodes[0].token())
        .optional_capability("runs.resume.v1")
        .on_request("tools.execute", |_: Value| async move {
            std::future::pending::<Result<Value, tether_proto::ErrorObject>>().await
        })
        .connect()
        .await
        .unwrap();
    stuck.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    let started = stuck.call_raw("runs.start", json!({"intent": "interrupted", "agent_id": "mover-2"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let pending = {
        let stuck = stuck.clone();
        tokio::spawn(async move { submit(&stuck, "x").await })
    };
    let n1 = operator(&fleet.nodes[0]).await;
    wait_until("the call is pending on node 1", async || {
        let metrics = http_get(&fleet.nodes[0], "/metrics").await;
        metrics.lines().any(|l| l.starts_with("tether_callbacks_pending ") && !l.ends_with(" 0"))
    })
    .await;
    stuck.close();
    assert!(pending.await.unwrap().is_err(), "the dropped client never hears back");

    // It comes back on node 2, resumes, and submits the same proposal again.
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = calls.clone();
    let back = Client::builder(&fleet.nodes[1].url)
        .token(fleet.nodes[1].token())
        .optional_capability("runs.resume.v1")
        .on_request("tools.execute", move |params: Value| {
            seen.lock().unwrap().push(params.clone());
            async move { Ok(params["parameters"].clone()) }
        })
        .connect()
        .await
        .unwrap();
    back.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    back.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap();
    let result = submit(&back, "x").await.unwrap();
    assert_eq!(result["results"][0]["status"], "succeeded", "{result}");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "delivered once more, on node 2");
    // The same call_id as node 1's delivery: an SDK's call cache recognises it.
    assert_eq!(calls[0]["call_id"], format!("{run_id}:p-x:x:1"), "{}", calls[0]);
    let turns: Vec<Value> = trace(&n1, &run_id).await.into_iter().filter(|r| r["record"] == "turn").collect();
    assert_eq!(turns.len(), 1, "journalled once: {turns:?}");
    assert_eq!(turns[0]["status"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_immediately_under_a_daemon_loses_no_acknowledged_turn() {
    let pg = Postgres::start(true).unwrap();
    pg.create_database("tether").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    // A lease longer than the restart: the node is not declared dead meanwhile.
    std::fs::write(
        &config,
        format!("[store]\nurl = \"{}\"\nnode_name = \"solo\"\nlease_ms = 10000\n", pg.url("tether")),
    )
    .unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let client = harness(&daemon).await;
    let started =
        client.call_raw("runs.start", json!({"intent": "through a restart", "agent_id": "steady"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    for i in 0..20 {
        submit(&client, &format!("a{i}")).await.unwrap();
    }
    pg.restart_immediate().unwrap();
    // While the writer reconnects a turn may be refused (-32603), never acknowledged and lost.
    let mut acknowledged = 20;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 20;
    while acknowledged < 25 {
        assert!(Instant::now() < deadline, "the daemon never wrote again after the database came back");
        match submit(&client, &format!("a{i}")).await {
            Ok(_) => acknowledged += 1,
            Err(error) => assert_eq!(error.code(), Some(-32603), "{error}"),
        }
        i += 1;
    }
    let records = trace(&client, &run_id).await;
    let turns: Vec<&str> = records.iter().filter_map(|r| r["action_id"].as_str()).collect();
    assert_eq!(turns.len(), acknowledged, "{turns:?}");
    assert_eq!(
        &turns[..20],
        (0..20).map(|i| format!("a{i}")).collect::<Vec<_>>().iter().map(String::as_str).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_the_old_node_follows_a_run_that_moved() {
    let fleet = fleet(2);
    let owner = harness(&fleet.nodes[0]).await;
    let started = owner.call_raw("runs.start", json!({"intent": "moves", "agent_id": "nomad"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    submit(&owner, "a0").await.unwrap();
    let watcher = operator(&fleet.nodes[0]).await;
    watcher.call_raw("runs.subscribe", json!({"run_id": run_id})).await.unwrap();

    let mover = harness(&fleet.nodes[1]).await;
    mover.call_raw("runs.resume", json!({"run_id": run_id})).await.unwrap();
    submit(&mover, "b0").await.unwrap();
    // Node 1 hears that another node writes the run: its subscriber is told to subscribe again.
    let note = tokio::time::timeout(Duration::from_secs(10), watcher.next_notification()).await.unwrap().unwrap();
    assert_eq!(note.method, "runs.trace.lagged", "{:?}", note.params);
    let again = watcher.call_raw("runs.subscribe", json!({"run_id": run_id})).await.unwrap();
    let snapshot: Vec<&str> =
        again["snapshot"].as_array().unwrap().iter().filter_map(|r| r["action_id"].as_str()).collect();
    assert_eq!(snapshot, ["a0", "b0"], "the snapshot comes from the store");
    submit(&mover, "c0").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), watcher.next_notification()).await.unwrap().unwrap();
    assert_eq!(event.method, "runs.trace.event");
    assert_eq!(event.params["record"]["action_id"], "c0");
    assert_eq!(event.params["cursor"], 3);
}

#[tokio::test]
async fn a_nul_in_an_agent_id_or_idempotency_key_is_refused_before_any_sql() {
    let fleet = fleet(1);
    let client = operator(&fleet.nodes[0]).await;
    let nul = |params: Value| async { client.call_raw("runs.start", params).await.unwrap_err() };
    let agent = nul(json!({"intent": "x", "agent_id": "a\u{0}b"})).await;
    assert_eq!(agent.code(), Some(-32602), "{agent}");
    assert!(agent.to_string().contains("params.agent_id") && agent.to_string().contains("NUL"), "{agent}");
    let key = nul(json!({"intent": "x", "agent_id": "a", "idempotency_key": "k\u{0}"})).await;
    assert_eq!(key.code(), Some(-32602), "{key}");
    assert!(key.to_string().contains("params.idempotency_key"), "{key}");
    let listed = client.call_raw("runs.list", json!({"agent_id": "\u{0}"})).await.unwrap_err();
    assert_eq!(listed.code(), Some(-32602), "{listed}");
    // The store is untouched and still answers.
    client.call_raw("runs.start", json!({"intent": "x", "agent_id": "a", "idempotency_key": "k"})).await.unwrap();
    let runs = client.call_raw("runs.list", json!({"agent_id": "a"})).await.unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
}

/// Months of churn leave the database the size of what retention keeps: an evicted
/// run's rows and records go, a settled approval past `hooks.approval_retention_ms`
/// goes, and a node dead for longer than an hour (one row per process ever started)
/// goes once no run names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicted_runs_settled_approvals_and_long_dead_nodes_leave_the_database() {
    let pg = Postgres::start(true).expect("a PostgreSQL server (scripts/postgres-env installs it)");
    pg.create_database("tether").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    let (url, policy) = (pg.url("tether"), policy_fixture());
    let toml = format!(
        "[store]\nurl = \"{url}\"\nnode_name = \"n1\"\nlease_ms = {LEASE_MS}\nheartbeat_ms = 200\nsweep_ms = 200\n\
         [runs]\nretain_runs_per_agent = 2\n[hooks]\npolicy_file = {policy:?}\napproval_retention_ms = 300\n"
    );
    std::fs::write(&config, toml).unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let sql = |query: &str| pg.psql("tether", query).unwrap();
    // A node that died two hours ago, and one that died a minute ago.
    sql("INSERT INTO tether_nodes (node_id, name, lease_until, state) VALUES
         ('ghost-old', 'old', now() - interval '2 hours', 'dead'),
         ('ghost-new', 'new', now() - interval '1 minute', 'dead')");

    let client = harness(&daemon).await;
    for i in 0..12 {
        let run = client.call_raw("runs.start", json!({"intent": "churn", "agent_id": "churner"})).await.unwrap();
        submit(&client, &format!("c{i}")).await.unwrap();
        let outcome = json!({"status": "success"});
        client.call_raw("runs.complete", json!({"run_id": run["run_id"], "outcome": outcome})).await.unwrap();
    }
    let runs = "SELECT count(*) FROM tether_runs WHERE agent_id = 'churner'";
    let records = "SELECT count(*) FROM tether_records r JOIN tether_runs USING (run_id) WHERE agent_id = 'churner'";
    wait_until("evicted runs' rows deleted", async || sql(runs) == "2").await;
    assert_eq!(sql(records), "6", "the two kept runs' records (started, turn, ended) and no others");
    assert_eq!(sql("SELECT count(*) FROM tether_records"), "6", "no record of an evicted run is left behind");

    let operator = operator(&daemon).await;
    let hook = json!({"session_id": "s-prune", "hook_event_name": "PreToolUse", "tool_name": "WebFetch",
        "tool_input": {"url": "https://example.com"}});
    let asked = operator.call_raw("hooks.ingest", hook).await.unwrap();
    assert_eq!(asked["decision"], "ask", "{asked}");
    let pending = operator.call_raw("approvals.list", json!({"state": "pending"})).await.unwrap();
    let id = pending[0]["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(sql("SELECT count(*) FROM tether_approvals"), "1");
    operator.call_raw("approvals.resolve", json!({"approval_id": id, "decision": "deny"})).await.unwrap();
    wait_until("the settled approval past retention deleted", async || {
        sql("SELECT count(*) FROM tether_approvals") == "0"
    })
    .await;

    wait_until("the long-dead node's row deleted", async || {
        sql("SELECT count(*) FROM tether_nodes WHERE node_id = 'ghost-old'") == "0"
    })
    .await;
    assert_eq!(sql("SELECT count(*) FROM tether_nodes WHERE node_id = 'ghost-new'"), "1", "kept for an hour");
    assert_eq!(sql("SELECT count(*) FROM tether_nodes WHERE state = 'alive'"), "1", "the live node stays");
}
