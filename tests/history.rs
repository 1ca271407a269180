//! Months, not minutes: under endless churn the journal's files, descriptors and
//! bytes stay bounded by what retention keeps, not by how many runs ever ran; and
//! a kill in the middle of deleting a segment restarts clean. The real binary, over
//! a socket, on a real disk, with tiny segments and tight retention.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

const CONFIG: &str = "[runs]\nretain_runs_per_agent = 2\n[journal]\nsegment_bytes = 2048\nmax_open_segments = 4\n";

fn config(dir: &Path) -> String {
    config_file(dir, CONFIG)
}

/// One short run: started, one action, completed.
async fn one_run(client: &Client, agent: &str) -> Result<String, tether_client::ClientError> {
    let started = client.call_raw("runs.start", json!({"intent": "churn", "agent_id": agent})).await?;
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let actions = json!([{"id": "a", "type": "tool_call", "tool": "echo", "parameters": {"n": 1}}]);
    client.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await?;
    client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await?;
    Ok(run_id)
}

/// Segment numbers in the journal directory.
fn segments(data_dir: &Path) -> Vec<u32> {
    let mut numbers: Vec<u32> = std::fs::read_dir(data_dir.join("journal"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// The numbers the journal's retirement manifest names (magic, version, count,
/// then (first, last) ranges, little-endian, then a CRC).
fn retired(data_dir: &Path) -> Vec<u32> {
    let bytes = std::fs::read(data_dir.join("journal/retired")).unwrap();
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(&bytes[..8], b"TETHERRT");
    (0..word(12) as usize).flat_map(|i| word(16 + 8 * i)..=word(20 + 8 * i)).collect()
}

async fn metrics(daemon: &Daemon) -> HashMap<String, f64> {
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        daemon.token()
    );
    let (status, body) = http_raw(daemon.addr, request).await;
    assert_eq!(status, 200, "{body}");
    body.as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(k, v)| (k.to_owned(), v.parse().unwrap())))
        .collect()
}

fn descriptors(daemon: &Daemon) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", daemon.child.id())).unwrap().count()
}

#[tokio::test]
async fn under_churn_the_journal_stops_growing_and_restarts_with_just_what_retention_kept() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let daemon = Daemon::spawn(dir.path(), &["--config", &config]);
    let client = echo_harness(&daemon, &[]).await;
    // Warm-up: enough runs to roll and retire segments, and among them eight runs
    // left in progress (never evicted), each holding a segment of its own.
    let mut long = Vec::new();
    for i in 0..64 {
        if i % 8 == 0 {
            let holder = echo_harness(&daemon, &[]).await;
            let started = holder.call_raw("runs.start", json!({"intent": "long", "agent_id": "long"})).await.unwrap();
            long.push((holder, started["run_id"].as_str().unwrap().to_owned()));
        }
        one_run(&client, "churn").await.unwrap();
    }
    // Reading them all goes through at most max_open_segments (4) descriptors.
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    for _ in 0..3 {
        for (_, run_id) in &long {
            let trace = operator.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap();
            assert_eq!(trace["records"].as_array().unwrap().len(), 1, "{trace}");
        }
    }
    let read = metrics(&daemon).await;
    assert!(read["tether_journal_segments"] >= 8.0, "{read:?}");
    assert!(read["tether_journal_open_files"] <= 5.0, "{read:?}");
    drop(operator);
    let warm = metrics(&daemon).await;
    let (warm_files, warm_fds) = (segments(&daemon.data_dir).len(), descriptors(&daemon));
    let mut most_files = 0;
    let mut most_fds = 0;
    let mut most_open = 0.0f64;
    for _ in 0..8 {
        for _ in 0..40 {
            one_run(&client, "churn").await.unwrap();
        }
        most_files = most_files.max(segments(&daemon.data_dir).len());
        most_fds = most_fds.max(descriptors(&daemon));
        most_open = most_open.max(metrics(&daemon).await["tether_journal_open_files"]);
    }
    let after = metrics(&daemon).await;
    let newest = *segments(&daemon.data_dir).last().unwrap();
    eprintln!(
        "segments rolled: {newest}; files {warm_files} after warm-up, at most {most_files}; descriptors {warm_fds} → at most {most_fds}; journal open files at most {most_open}; {:?}",
        after.iter().filter(|(k, _)| k.starts_with("tether_journal_") && !k.contains("_bucket")).collect::<Vec<_>>()
    );
    assert!(newest >= 60, "many segments rolled: {newest}");
    assert!(
        most_files <= warm_files.max(4) + 4,
        "files kept growing: {warm_files} after warm-up, then up to {most_files}"
    );
    assert!(most_fds <= warm_fds + 4, "descriptors kept growing: {warm_fds} → {most_fds}");
    assert!(most_open <= 5.0, "at most the writer's and max_open_segments readers: {most_open}");
    // Every number up to the newest is on disk or retired.
    let accounted = after["tether_journal_segments_retired_total"] + after["tether_journal_segments"];
    assert!(accounted >= newest as f64 - 2.0, "{newest}: {after:?}");
    assert!(after["tether_journal_bytes"] <= warm["tether_journal_bytes"].max(8192.0) * 2.0, "{warm:?} → {after:?}");
    assert!(after["tether_journal_tombstones"] <= 10.0, "{after:?}");
    // Retention runs in the background after a run ends: wait until it has evicted down
    // to what it keeps (retain_runs_per_agent = 2) before taking the list to compare.
    let mut kept = Value::Null;
    wait_until("retention keeps two churn runs", async || {
        kept = client.call_raw("runs.list", json!({"agent_id": "churn"})).await.unwrap();
        kept["runs"].as_array().unwrap().len() == 2
    })
    .await;
    drop(client);
    drop(daemon);

    let daemon = Daemon::spawn(dir.path(), &["--config", &config]);
    let (status, health) = http_get(daemon.addr, "/healthz").await;
    assert_eq!(status, 200, "{health}");
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let list = operator.call_raw("runs.list", json!({"agent_id": "churn"})).await.unwrap();
    assert_eq!(list["runs"], kept["runs"], "exactly the kept runs, nothing evicted back");
    for run in list["runs"].as_array().unwrap() {
        let trace = operator.call_raw("runs.get_trace", json!({"run_id": run["run_id"]})).await.unwrap();
        assert_eq!(trace["records"].as_array().unwrap().len(), 3, "{trace}");
    }
}

#[tokio::test]
async fn a_daemon_killed_between_marking_a_segment_retired_and_deleting_it_restarts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let mut daemon =
        Daemon::spawn_env(dir.path(), &["--config", &config], &[("TETHER_JOURNAL_FAILPOINT", "retire-after-mark")]);
    let client = echo_harness(&daemon, &[]).await;
    let mut completed = Vec::new();
    for _ in 0..200 {
        match one_run(&client, "churn").await {
            Ok(run) => completed.push(run),
            Err(_) => break,
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(status) = daemon.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the failpoint killed the daemon");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{status:?}");
    let before = segments(&daemon.data_dir);
    let retired = retired(&daemon.data_dir);
    assert!(
        before.iter().any(|n| retired.contains(n)),
        "killed inside the window: {before:?} on disk, {retired:?} retired"
    );
    drop(client);

    let daemon = Daemon::spawn(dir.path(), &["--config", &config]);
    let (status, health) = http_get(daemon.addr, "/healthz").await;
    assert_eq!(status, 200, "no damage: {health}");
    let after = segments(&daemon.data_dir);
    assert!(!after.iter().any(|n| retired.contains(n)), "the retirement was finished: {after:?}, {retired:?} retired");
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let list = operator.call_raw("runs.list", json!({})).await.unwrap();
    let runs = list["runs"].as_array().unwrap();
    assert!(!runs.is_empty() && runs.len() <= 3, "{list}");
    for run in runs {
        assert_eq!(run["trace_corruption"], Value::Null, "{run}");
        let trace = operator.call_raw("runs.get_trace", json!({"run_id": run["run_id"]})).await.unwrap();
        assert!(!trace["records"].as_array().unwrap().is_empty());
    }
    // The newest completed runs are among those kept.
    let newest = completed.last().unwrap();
    assert!(runs.iter().any(|r| r["run_id"] == newest.as_str()), "{newest} kept: {list}");
}
