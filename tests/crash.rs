//! kill -9 and damaged journals, against the real binary on a real disk.

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

async fn harness(daemon: &Daemon) -> Client {
    echo_harness(daemon, &[]).await
}

async fn operator(daemon: &Daemon) -> Client {
    Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap()
}

async fn submit_one(client: &Client, action_id: &str) -> Result<Value, tether_client::ClientError> {
    let actions = json!([{"id": action_id, "type": "tool_call", "tool": "echo", "parameters": {"n": action_id}}]);
    client.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await
}

/// Every record of a run, oldest first.
async fn full_trace(client: &Client, run_id: &str) -> Vec<Value> {
    let page = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
    page["records"].as_array().unwrap_or_else(|| panic!("{page}")).clone()
}

fn kill9(daemon: &mut Daemon) {
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
}

#[tokio::test]
async fn after_kill_9_a_run_reads_incomplete_with_its_acknowledged_turns() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let started = client.call_raw("runs.start", json!({"intent": "crash me", "agent_id": "victim"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        submit_one(&client, &format!("a{i}")).await.unwrap();
    }
    kill9(&mut daemon);

    let daemon = Daemon::spawn(dir.path(), &[]);
    let operator = operator(&daemon).await;
    // No waiting: the run was ended before the listener accepted this connection.
    let list = operator.call_raw("runs.list", json!({"agent_id": "victim"})).await.unwrap();
    assert_eq!(list["runs"][0]["status"], "incomplete", "{list}");
    assert_eq!(list["runs"][0]["turn_count"], 3);
    let trace = full_trace(&operator, &run_id).await;
    let kinds: Vec<&str> = trace.iter().map(|r| r["record"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "turn", "turn", "turn", "ended"]);
    let actions: Vec<&str> = trace[1..4].iter().map(|t| t["action_id"].as_str().unwrap()).collect();
    assert_eq!(actions, ["a0", "a1", "a2"]);
    assert_eq!(trace[4]["termination"], json!({"kind": "incomplete"}));
}

/// A small deterministic generator: the seed is printed, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loop_loses_no_acknowledged_turn() {
    let seed = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash loop seed {seed} (CRASH_SEED={seed} to replay)");
    let mut rng = XorShift(seed);
    let dir = tempfile::tempdir().unwrap();
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let cycles = 5;
    let writers = 8;
    for cycle in 0..cycles {
        let mut daemon = Daemon::spawn(dir.path(), &[]);
        let mut tasks = Vec::new();
        for w in 0..writers {
            let (url, token, acknowledged) = (daemon.url.clone(), daemon.token(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(client) = Client::builder(&url)
                    .token(token)
                    .on_request("tools.execute", |p: Value| async move { Ok(p["parameters"].clone()) })
                    .connect()
                    .await
                else {
                    return;
                };
                if client.call_raw("tools.register", json!([{"name": "echo"}])).await.is_err() {
                    return;
                }
                let Ok(started) =
                    client.call_raw("runs.start", json!({"intent": "load", "agent_id": format!("w{w}")})).await
                else {
                    return;
                };
                let run_id = started["run_id"].as_str().unwrap().to_owned();
                for i in 0.. {
                    let action_id = format!("c{cycle}-w{w}-{i}");
                    match submit_one(&client, &action_id).await {
                        Ok(reply) if reply["results"][0]["status"] == "succeeded" => {
                            acknowledged.lock().unwrap().push((run_id.clone(), action_id));
                        }
                        _ => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(300))).await;
        kill9(&mut daemon);
        for task in tasks {
            tokio::time::timeout(PATIENCE, task).await.expect("writers stop once the daemon is gone").unwrap();
        }
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > cycles, "the load produced only {} acknowledged turns", acknowledged.len());
    let daemon = Daemon::spawn(dir.path(), &[]);
    let operator = operator(&daemon).await;
    let mut traces: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for (run_id, action_id) in &acknowledged {
        if !traces.contains_key(run_id) {
            traces.insert(run_id.clone(), full_trace(&operator, run_id).await);
        }
        let trace = &traces[run_id];
        assert!(
            trace.iter().any(|r| r["action_id"] == action_id.as_str()),
            "acknowledged turn {action_id} of run {run_id} is missing (seed {seed})"
        );
        assert_eq!(trace.last().unwrap()["termination"], json!({"kind": "incomplete"}));
    }
    eprintln!("{} acknowledged turns across {} runs all survived", acknowledged.len(), traces.len());
}

/// Byte offsets of every frame in a segment (the journal's own framing: a 16-byte
/// segment header, then frames of len u32 LE, crc, body).
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 16;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break; // the zeros the journal keeps written ahead of its records
        }
        out.push((at, 8 + len));
        at += 8 + len;
    }
    out
}

async fn populate(daemon: &Daemon) -> Vec<String> {
    let client = harness(daemon).await;
    let mut runs = Vec::new();
    for agent in ["x", "y", "z"] {
        let started = client.call_raw("runs.start", json!({"intent": "damage", "agent_id": agent})).await.unwrap();
        let run_id = started["run_id"].as_str().unwrap().to_owned();
        for i in 0..2 {
            submit_one(&client, &format!("{agent}{i}")).await.unwrap();
        }
        runs.push(run_id);
    }
    runs
}

#[tokio::test]
async fn a_torn_tail_recovers_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let runs = populate(&daemon).await;
    kill9(&mut daemon);
    let segment = daemon.data_dir.join("journal/seg-00000001.log");
    let bytes = std::fs::read(&segment).unwrap();
    let last = *frames(&bytes).last().unwrap();
    assert!(bytes.len() > last.0 + last.1, "zeros are written ahead of the records");
    // Zero the last frame's (the final turn's) second half, as a crash mid-write
    // leaves it: its blocks never written over the zeros there.
    let mut torn = bytes.clone();
    torn[last.0 + last.1 / 2..last.0 + last.1].fill(0);
    std::fs::write(&segment, &torn).unwrap();

    let daemon = Daemon::spawn(dir.path(), &[]);
    let operator = operator(&daemon).await;
    for run_id in &runs {
        let trace = full_trace(&operator, run_id).await;
        assert_eq!(trace.last().unwrap()["termination"], json!({"kind": "incomplete"}));
    }
    assert_eq!(full_trace(&operator, &runs[2]).await.len(), 3, "started, one whole turn, ended: the torn turn is gone");
    assert_eq!(full_trace(&operator, &runs[0]).await.len(), 4);
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("truncated a torn tail"), "{log}");
}

#[tokio::test]
async fn journal_preallocate_bytes_0_writes_no_zeros_ahead_and_a_cut_tail_still_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[journal]\npreallocate_bytes = 0\n");
    let args = ["--config", &config];
    let mut daemon = Daemon::spawn(dir.path(), &args);
    let runs = populate(&daemon).await;
    kill9(&mut daemon);
    let segment = daemon.data_dir.join("journal/seg-00000001.log");
    let bytes = std::fs::read(&segment).unwrap();
    let last = *frames(&bytes).last().unwrap();
    assert_eq!(bytes.len(), last.0 + last.1, "the segment ends with its last record");
    // Cut the last frame in half, as a crash mid-write leaves a file that only appends.
    std::fs::write(&segment, &bytes[..last.0 + last.1 / 2]).unwrap();

    let daemon = Daemon::spawn(dir.path(), &args);
    let operator = operator(&daemon).await;
    assert_eq!(full_trace(&operator, &runs[2]).await.len(), 3, "started, one whole turn, ended: the torn turn is gone");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("truncated a torn tail"), "{log}");
}

#[tokio::test]
async fn a_flipped_bit_is_detected_and_flags_only_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    let runs = populate(&daemon).await;
    kill9(&mut daemon);
    let segment = daemon.data_dir.join("journal/seg-00000001.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    // Frames: x started, x turn, x turn, y started, y turn, …: damage y's first turn's payload.
    let (start, _) = frames(&bytes)[4];
    bytes[start + 8 + 21 + 3] ^= 0x04;
    std::fs::write(&segment, &bytes).unwrap();

    let daemon = Daemon::spawn(dir.path(), &[]);
    let operator = operator(&daemon).await;
    let list = operator.call_raw("runs.list", json!({})).await.unwrap();
    let flagged: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trace_corruption"] == true)
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, [runs[1].as_str()], "{list}");
    let err = operator.call_raw("runs.get_trace", json!({"run_id": runs[1]})).await.unwrap_err();
    assert_eq!(err.code(), Some(-32011), "{err}");
    assert_eq!(full_trace(&operator, &runs[0]).await.len(), 4, "the run before the damage is whole");
    assert_eq!(full_trace(&operator, &runs[2]).await.len(), 4, "the run after the damage is whole");
}

#[tokio::test]
async fn evicted_runs_stay_evicted_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "[runs]\nretain_runs_per_agent = 2\n[journal]\nsegment_bytes = 2048\n");
    let args = ["--config", &config];
    let mut daemon = Daemon::spawn(dir.path(), &args);
    let client = harness(&daemon).await;
    for _ in 0..8 {
        let started = client.call_raw("runs.start", json!({"intent": "churn", "agent_id": "k"})).await.unwrap();
        let run_id = started["run_id"].as_str().unwrap();
        submit_one(&client, "a").await.unwrap();
        client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await.unwrap();
    }
    let ids = |list: Value| -> Vec<String> {
        list["runs"].as_array().unwrap().iter().map(|r| r["run_id"].as_str().unwrap().to_owned()).collect()
    };
    let listed = || async { ids(client.call_raw("runs.list", json!({"agent_id": "k"})).await.unwrap()) };
    wait_until("retention trims to 2 runs", async || listed().await.len() == 2).await;
    let kept = listed().await;
    kill9(&mut daemon);
    let daemon = Daemon::spawn(dir.path(), &args);
    let operator = operator(&daemon).await;
    let after = ids(operator.call_raw("runs.list", json!({})).await.unwrap());
    assert_eq!(after, kept, "no evicted run (or remnant of one) comes back");
}

/// Ten runs completed on a daemon whose journal segments hold a few records each;
/// returns them with the segments each one's records sit in.
async fn many_segments(dir: &std::path::Path) -> (Vec<String>, Vec<Vec<u32>>) {
    let mut daemon = Daemon::spawn(dir, &["--config", &config_file(dir, "[journal]\nsegment_bytes = 2048\n")]);
    let client = harness(&daemon).await;
    let mut runs = Vec::new();
    for i in 0..10 {
        let started = client.call_raw("runs.start", json!({"intent": "many", "agent_id": "m"})).await.unwrap();
        let run_id = started["run_id"].as_str().unwrap().to_owned();
        for j in 0..3 {
            submit_one(&client, &format!("r{i}t{j}")).await.unwrap();
        }
        client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await.unwrap();
        runs.push(run_id);
    }
    kill9(&mut daemon);
    let journal = daemon.data_dir.join("journal");
    let placement = runs
        .iter()
        .map(|run| {
            let id = ulid::Ulid::from_string(run).unwrap().to_bytes();
            (1..100u32)
                .take_while(|n| journal.join(format!("seg-{n:08}.log")).exists())
                .filter(|n| {
                    std::fs::read(journal.join(format!("seg-{n:08}.log"))).unwrap().windows(16).any(|w| w == id)
                })
                .collect()
        })
        .collect();
    (runs, placement)
}

#[tokio::test]
async fn a_journal_with_a_missing_segment_is_refused_and_opens_only_when_told_with_its_runs_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (runs, placement) = many_segments(dir.path()).await;
    let journal = dir.path().join("data/journal");
    assert!(journal.join("seg-00000004.log").exists(), "several segments");
    std::fs::remove_file(journal.join("seg-00000002.log")).unwrap();
    let before: Vec<_> = std::fs::read_dir(&journal).unwrap().map(|e| e.unwrap().path()).collect();

    let refused = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("TETHER_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty(), "never ready");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("segment 2 is missing") && stderr.contains("--accept-journal-damage"), "{stderr}");
    let after: Vec<_> = std::fs::read_dir(&journal).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(before.len(), after.len(), "nothing created or removed");

    let daemon = Daemon::spawn(dir.path(), &["--accept-journal-damage"]);
    let operator = operator(&daemon).await;
    let (status, health) = http_get(daemon.addr, "/healthz").await;
    assert_eq!(status, 503, "{health}");
    assert!(health["problems"][0].as_str().unwrap().contains("segment 2 is missing"), "{health}");
    // Every agent's runs: one that lost its `started` record may not know its agent.
    let list = operator.call_raw("runs.list", json!({})).await.unwrap();
    for (run, segments) in runs.iter().zip(&placement) {
        let summary = list["runs"].as_array().unwrap().iter().find(|r| r["run_id"] == run.as_str());
        if segments == &[2] {
            assert!(summary.is_none(), "nothing of {run} survives");
        } else if segments.contains(&2) {
            let summary = summary.unwrap();
            assert_eq!(summary["trace_corruption"], true, "{summary}");
            assert_ne!(summary["status"], "incomplete", "a run that lost records is never re-ended: {summary}");
            let err = operator.call_raw("runs.get_trace", json!({"run_id": run})).await.unwrap_err();
            assert_eq!(err.code(), Some(-32011));
        } else {
            let summary = summary.unwrap();
            assert_eq!(
                (summary["status"].clone(), summary["trace_corruption"].clone()),
                (json!("completed"), Value::Null)
            );
            assert_eq!(full_trace(&operator, run).await.len(), 5, "untouched runs read whole");
        }
    }
}
