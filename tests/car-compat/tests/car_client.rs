//! The published `car-daemon-client` 0.60.0, unchanged, against a real tether on a real socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use car_daemon_client::proxy::DaemonClient;
use serde_json::{Value, json};
use tether_core::{ConnectionConfig, StaticToken};
use tether_server::{Server, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_car_client_runs_the_core_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let token = tether_server::token::generate().unwrap();
    let registry = tether::registry(dir.path(), &Default::default(), Arc::new(tether_store::RealFsync)).await.unwrap();
    let config = ServerConfig {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        socket: None,
        authenticator: Some(Arc::new(StaticToken::new(token.clone()))),
        allow_remote: false,
        allowed_origins: vec![],
        connection: ConnectionConfig::default(),
        hooks: None,
        mcp: None,
        health: None,
        metrics: None,
        metrics_auth: true,
        console: None,
        tls: None,
    };
    let server = Server::bind(config, registry).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    tokio::spawn(server.run(std::future::pending::<()>()));

    // Token → session.auth first frame, then server.handshake, as the client does it.
    let client = DaemonClient::with_url_and_tokens(url, Some(token), None);
    let executed = Arc::new(AtomicUsize::new(0));
    let counter = executed.clone();
    client.register_handler("tools.execute", move |params: Value| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok(json!({"echoed": params["parameters"]})) }
    });
    client.connect().await.expect("auth and handshake succeed");

    let registered = client
        .call("tools.register", json!([{"name": "echo", "description": "echo", "parameters": {"type": "object"}}]))
        .await
        .unwrap();
    assert_eq!(registered, 1);

    let started = client.call("runs.start", json!({"intent": "compat", "agent_id": "car-agent"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    assert_eq!(started["agent_id"], "car-agent");
    assert!(started["client_id"].is_string());

    let proposal = json!({"proposal": {"id": "p1", "source": "compat", "actions": [
        {"id": "a1", "type": "tool_call", "tool": "echo", "parameters": {"prompt": "hello"}, "timeout_ms": 5000}
    ]}});
    let submitted = client.call("proposal.submit", proposal).await.unwrap();
    assert_eq!(submitted["proposal_id"], "p1");
    assert_eq!(submitted["results"][0]["action_id"], "a1");
    assert_eq!(submitted["results"][0]["status"], "succeeded");
    assert_eq!(submitted["results"][0]["output"], json!({"echoed": {"prompt": "hello"}}));
    assert_eq!(executed.load(Ordering::SeqCst), 1, "answered through the client's tools.execute handler");
    for n in 2..=5 {
        let proposal = json!({"proposal": {"actions": [
            {"id": format!("a{n}"), "type": "tool_call", "tool": "echo", "parameters": {"n": n}}
        ]}});
        client.call("proposal.submit", proposal).await.unwrap();
    }

    let outcome = json!({"status": "success", "summary": "ok", "evidence": [], "metrics": {}, "timestamp": "2026-11-21T00:00:00Z"});
    let completed = client.call("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();
    assert_eq!(completed, json!({"run_id": run_id, "ok": true}));

    let listed = client.call("runs.list", json!({"agent_id": "car-agent"})).await.unwrap();
    assert_eq!(listed["agent_id"], "car-agent");
    assert_eq!(listed["runs"][0]["run_id"], run_id.as_str());
    assert_eq!(listed["runs"][0]["status"], "completed");
    assert_eq!(listed["runs"][0]["turn_count"], 5);

    // The legacy form: the whole trace, oldest first.
    let trace = client.call("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    assert_eq!(trace["agent_id"], "car-agent");
    let records = trace["records"].as_array().unwrap();
    assert_eq!(records.len(), 7, "started, five turns, ended");
    assert_eq!((records[0]["record"].clone(), records[6]["record"].clone()), (json!("started"), json!("ended")));

    // Paged with CAR's own request type (runs.pagination.v1): numeric cursors, in order.
    let mut paged = Vec::new();
    let mut cursor = 0;
    loop {
        let request = car_proto::RunGetTraceRequest { run_id: run_id.clone(), cursor, limit: 3 };
        let page = client.call("runs.get_trace", serde_json::to_value(request).unwrap()).await.unwrap();
        assert_eq!(page["cursor"], cursor);
        paged.extend(page["records"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_u64() {
            Some(next) => cursor = next as usize,
            None => break,
        }
    }
    assert_eq!(&paged, records, "three pages, in the order it happened");
    let turns: Vec<&str> = paged.iter().filter_map(|r| r["action_id"].as_str()).collect();
    assert_eq!(turns, ["a1", "a2", "a3", "a4", "a5"]);
    let list = car_proto::RunListRequest { agent_id: "car-agent".into(), cursor: 0, limit: 1 };
    let page = client.call("runs.list", serde_json::to_value(list).unwrap()).await.unwrap();
    assert_eq!(page["runs"][0]["run_id"], run_id.as_str());
    assert!(page["next_cursor"].is_null(), "one run, one page");

    let turn = records.iter().find(|r| r["record"] == "turn").unwrap();
    assert_eq!(
        (turn["action_id"].clone(), turn["prompt"].clone(), turn["status"].clone()),
        (json!("a1"), json!("hello"), json!("succeeded"))
    );
}

/// The `tether` binary the workspace's tests built (`target/debug/tether`).
fn tether_binary() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let binary = target.join("debug/tether");
    assert!(binary.exists(), "{} is missing: run the workspace's tests (they build it)", binary.display());
    binary
}

fn serve(data_dir: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(tether_binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("tether listening on ").expect("a readiness line").to_owned();
    (child, url)
}

/// CAR clients do not negotiate `runs.reattach.v1`: after a crash their runs end
/// `incomplete` at once, as before reattachable runs existed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_car_clients_run_reads_incomplete_at_once_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut daemon, url) = serve(&data);
    let token = std::fs::read_to_string(data.join("auth-token")).unwrap().trim().to_owned();
    let client = DaemonClient::with_url_and_tokens(url, Some(token.clone()), None);
    client.connect().await.unwrap();
    let started = client.call("runs.start", json!({"intent": "crash", "agent_id": "car-agent"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    assert!(started.get("resume_token").is_none(), "no capability, no token");
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    let (mut daemon, url) = serve(&data);
    let client = DaemonClient::with_url_and_tokens(url, Some(token), None);
    client.connect().await.unwrap();
    let trace = client.call("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    let last = trace["records"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(last["record"], "ended");
    assert_eq!(last["termination"]["kind"], "incomplete", "{last}");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

/// A run that ended on its budget reads, to a CAR client, as an outcome it knows:
/// its `ended` record parses as CAR's own `RunEnded` (`failure`), and the new status
/// string in `runs.list` is only a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_exceeded_run_reads_as_a_car_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut daemon, url) = serve(&data);
    let token = std::fs::read_to_string(data.join("auth-token")).unwrap().trim().to_owned();
    let client = DaemonClient::with_url_and_tokens(url.clone(), Some(token.clone()), None);
    client.register_handler("tools.execute", |params: Value| async move { Ok(params["parameters"].clone()) });
    client.connect().await.unwrap();
    client.call("tools.register", json!([{"name": "echo"}])).await.unwrap();
    let started = client
        .call("runs.start", json!({"intent": "b", "agent_id": "car-agent", "budget": {"max_tool_calls": 0}}))
        .await
        .unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let submitting = {
        let client = client.clone();
        let proposal =
            json!({"proposal": {"actions": [{"id": "a1", "type": "tool_call", "tool": "echo", "parameters": {}}]}});
        tokio::spawn(async move { client.call("proposal.submit", proposal).await })
    };
    let operator = DaemonClient::with_url_and_tokens(url, Some(token), None);
    operator.connect().await.unwrap();
    let approval_id = loop {
        let pending = operator.call("approvals.list", json!({"state": "pending"})).await.unwrap();
        if let Some(id) = pending[0]["approval_id"].as_str() {
            break id.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    operator.call("approvals.resolve", json!({"approval_id": approval_id, "decision": "deny"})).await.unwrap();
    let submitted = submitting.await.unwrap().unwrap();
    assert_eq!(submitted["results"][0]["status"], "rejected");

    let listed = client.call("runs.list", json!({"agent_id": "car-agent"})).await.unwrap();
    assert_eq!(listed["runs"][0]["status"], "budget_exceeded");
    let trace = client.call("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    let ended = trace["records"].as_array().unwrap().last().cloned().unwrap();
    let read: car_proto::RunEnded = serde_json::from_value(ended.clone()).expect("CAR's RunEnded reads it");
    match read.termination {
        car_proto::RunTermination::Outcome { status, .. } => {
            assert_eq!(serde_json::to_value(status).unwrap(), "failure")
        }
        other => panic!("not an outcome: {other:?}"),
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
