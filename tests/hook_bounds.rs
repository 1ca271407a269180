//! Hooks from a hostile agent cannot grow the daemon's memory or disk: names over
//! their bounds are trimmed (and still judged), the audit log rotates and keeps out
//! of the journal's reserve, and a full disk never turns a decision into an error.
//! Against the real binary on a real disk (and a real tmpfs where the volume must be small).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

const POLICY: &str = r#"
[[rules]]
name = "no-mcp"
event = "PreToolUse"
tool = "mcp__*"
decision = "deny"
reason = "no MCP tools here"

[[rules]]
name = "no-recursive-delete"
event = "PreToolUse"
tool = "Bash"
input = { command = "rm\\s+-rf" }
decision = "deny"
reason = "recursive deletes need a human"
"#;

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let config = dir.join("tether.toml");
    std::fs::write(&config, format!("[hooks]\npolicy_file = \"policy.toml\"\n{extra}")).unwrap();
    config
}

async fn operator(daemon: &Daemon) -> Client {
    Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn audit_bytes(data_dir: &Path) -> u64 {
    std::fs::read_dir(data_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit.jsonl"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

fn pre_tool_use(tool: &str, command: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": "s-1", "tool_name": tool, "tool_input": {"command": command}})
}

/// The attack: hooks whose names are megabytes. Before the bound, 250 of them with a
/// 7 MiB `hook_event_name` took the daemon from 10 to 1,823 MiB and grew the audit log
/// by 1,750 MiB. Now each name is kept to its `[limits.names]` bound, the hook is still
/// judged (a deny rule on the trimmed tool name still denies), and the audit line says
/// how long the name was.
#[tokio::test]
async fn hooks_with_huge_names_are_trimmed_judged_and_bounded_in_memory_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let client = operator(&daemon).await;
    // Warm up (allocator arenas, the audit writer, the policy) before the baseline.
    for _ in 0..8 {
        client.call_raw("hooks.ingest", pre_tool_use("Read", "ls")).await.unwrap();
    }
    let rss_before = rss_kib(daemon.child.id());
    let audit_before = audit_bytes(&daemon.data_dir);

    let huge = "x".repeat(7 << 20);
    let rounds = 16;
    let mut rss_half = 0;
    for i in 0..rounds {
        if i == rounds / 2 {
            rss_half = rss_kib(daemon.child.id());
        }
        let mut by_event = pre_tool_use("Read", "ls");
        by_event["hook_event_name"] = json!(format!("{huge}{i}"));
        let answer = client.call_raw("hooks.ingest", by_event).await.unwrap();
        assert_eq!(answer["decision"], "none", "an unknown (trimmed) event decides nothing");

        let by_tool = pre_tool_use(&format!("mcp__{huge}"), "ls");
        let answer = client.call_raw("hooks.ingest", by_tool).await.unwrap();
        assert_eq!(answer["decision"], "deny", "the deny rule judges the trimmed name: {}", answer["reason"]);
        assert_eq!(answer["rule"], "no-mcp");

        let mut by_session = pre_tool_use("Bash", "rm -rf /");
        by_session["session_id"] = json!(huge);
        let answer = client.call_raw("hooks.ingest", by_session).await.unwrap();
        assert_eq!(answer["decision"], "deny");
    }
    let rss_after = rss_kib(daemon.child.id());
    let rss_growth_mib = rss_after.saturating_sub(rss_before) / 1024;
    let second_half_mib = rss_after.saturating_sub(rss_half) / 1024;
    let audit_growth = audit_bytes(&daemon.data_dir) - audit_before;
    eprintln!(
        "{} hooks of 7 MiB names: RSS +{rss_growth_mib} MiB (+{second_half_mib} in the second half), audit +{audit_growth} bytes",
        rounds * 3
    );
    // Each line keeps names of at most a few hundred bytes.
    assert!(audit_growth < 64 << 10, "the audit log grew by {audit_growth} bytes");
    // What stays is what one message in flight costs (buffers the allocator keeps), not
    // the names (48 of them whole would be 336 MiB): it stops growing.
    assert!(rss_growth_mib < 64, "RSS grew by {rss_growth_mib} MiB");
    assert!(second_half_mib < 8, "RSS still grew by {second_half_mib} MiB over the last 24 hooks");

    // The audit line says which names were cut and how long they were.
    let audit = std::fs::read_to_string(daemon.data_dir.join("audit.jsonl")).unwrap();
    let last: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["trimmed"]["session_id"], 7 << 20, "{last}");
    assert!(last["claude_session_id"].as_str().unwrap().len() <= 256);
    let tool_line = audit.lines().rev().nth(1).map(|l| serde_json::from_str::<Value>(l).unwrap()).unwrap();
    assert_eq!(tool_line["trimmed"]["tool_name"], (7 << 20) + 5);
    assert!(tool_line["tool"].as_str().unwrap().starts_with("mcp__"));

    // The event ring keeps the trimmed kinds.
    let recent = client.call_raw("events.recent", json!({"limit": 100})).await.unwrap();
    let events = recent.as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        assert!(event["kind"].as_str().unwrap().len() <= 128, "an event kind of {} bytes", event["kind"]);
    }
}

/// Mounts a tmpfs of `mib` MiB at `path` (the tests run as root here); `None` when
/// this machine does not allow it.
fn small_volume(path: &Path, mib: u64) -> Option<Mounted> {
    std::fs::create_dir_all(path).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mib}m,mode=0700"), "tmpfs"])
        .arg(path)
        .status()
        .ok()?;
    status.success().then(|| Mounted(path.to_owned()))
}

struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn one_turn(harness: &Client, n: usize) -> Result<Value, tether_client::ClientError> {
    let started = harness.call_raw("runs.start", json!({"intent": "innocent", "agent_id": "bystander"})).await?;
    let actions = json!([{"id": format!("a{n}"), "type": "tool_call", "tool": "echo", "parameters": {"n": n}}]);
    harness.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await?;
    harness.call_raw("runs.complete", json!({"run_id": started["run_id"], "outcome": {"status": "done"}})).await
}

/// The attack: hooks that fill the data volume with audit lines. Before, 11 such hooks
/// filled a small volume, after which every agent's hooks answered -32603 and the
/// journal refused every write. Now the audit log stops at `hooks.audit_reserve_bytes`
/// of free space: the journal keeps that room, and hooks keep answering by policy.
#[tokio::test]
async fn audit_lines_cannot_fill_the_volume_the_journal_and_hooks_need() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_volume) = small_volume(&dir.path().join("data"), 24) else {
        eprintln!("skipped: mounting a tmpfs is not allowed here");
        return;
    };
    // Long names allowed, no rotation: the audit log grows as fast as a client can make it.
    let config = write_config(
        dir.path(),
        "audit_max_bytes = 1073741824\naudit_reserve_bytes = 8388608\n\
         [limits.names]\nevent = 1048576\n[journal]\nsegment_bytes = 1048576\n",
    );
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let client = operator(&daemon).await;
    let harness = echo_harness(&daemon, &[]).await;

    let name = "e".repeat(1 << 20);
    let mut dropped_at = None;
    for i in 0..40 {
        let mut hook = pre_tool_use("Bash", "rm -rf /");
        hook["hook_event_name"] = json!(name);
        client.call_raw("hooks.ingest", hook).await.unwrap();
        let health = http_get(daemon.addr, "/healthz").await;
        if health.0 == 503 {
            dropped_at = Some((i, health.1));
            break;
        }
    }
    let (i, health) = dropped_at.expect("the audit log never reached its reserve");
    eprintln!("the audit log stopped after {i} hooks of 1 MiB: {health}");
    assert!(health.to_string().contains("audit"), "{health}");
    let free = free_bytes(&daemon.data_dir);
    assert!(free >= 7 << 20, "the reserve was kept: {free} bytes free");

    // An innocent agent's turns still journal, and hooks still answer by policy.
    for n in 0..20 {
        one_turn(&harness, n).await.expect("a turn in the journal's reserve");
    }
    let answer = client.call_raw("hooks.ingest", pre_tool_use("Bash", "rm -rf /")).await.unwrap();
    assert_eq!(answer["decision"], "deny", "{answer}");
    let (status, body) =
        http_post(daemon.addr, "/hooks", Some(&daemon.token()), &pre_tool_use("mcp__fs__write", "x").to_string()).await;
    assert_eq!((status, &body["hookSpecificOutput"]["permissionDecision"]), (200, &json!("deny")), "{body}");
    let (_, metrics) = http_get_text(daemon.addr, "/metrics", &daemon.token()).await;
    assert!(metrics.contains("tether_audit_dropped_lines_total{reason=\"low_space\"}"), "{metrics}");

    // Now the volume is filled by something else entirely: every audit write fails,
    // and hooks still answer by policy, never -32603.
    let filler = daemon.data_dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 1 << 20];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    let answer = client.call_raw("hooks.ingest", pre_tool_use("Bash", "rm -rf /")).await.unwrap();
    assert_eq!(answer["decision"], "deny", "{answer}");
    let answer = client.call_raw("hooks.ingest", pre_tool_use("Read", "ls")).await.unwrap();
    assert_eq!(answer["decision"], "none", "{answer}");
    // Space back: the audit log writes again and /healthz recovers.
    std::fs::remove_file(&filler).unwrap();
    client.call_raw("hooks.ingest", pre_tool_use("Read", "ls")).await.unwrap();
    let free = free_bytes(&daemon.data_dir);
    eprintln!("after the filler went: {free} bytes free");
}

fn free_bytes(path: &Path) -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// The audit log rotates at `hooks.audit_max_bytes` and keeps `hooks.audit_keep` files.
#[tokio::test]
async fn the_audit_log_rotates_and_keeps_a_bounded_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "audit_max_bytes = 4096\naudit_keep = 2\n");
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let client = operator(&daemon).await;
    for _ in 0..100 {
        client.call_raw("hooks.ingest", pre_tool_use("Bash", "rm -rf /")).await.unwrap();
    }
    let mut files: Vec<String> = std::fs::read_dir(&daemon.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("audit.jsonl"))
        .collect();
    files.sort();
    assert_eq!(files, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]);
    assert!(audit_bytes(&daemon.data_dir) <= 3 * 4096);
    let (_, metrics) = http_get_text(daemon.addr, "/metrics", &daemon.token()).await;
    let rotations = metrics.lines().find(|l| l.starts_with("tether_audit_rotations_total")).unwrap();
    assert_ne!(rotations, "tether_audit_rotations_total 0", "{rotations}");
}

/// A policy file that is not a small regular file is refused, by the CLI and the daemon.
#[test]
fn policy_files_are_refused_when_not_a_bounded_regular_file() {
    let tether = env!("CARGO_BIN_EXE_tether");
    let out = Command::new(tether).args(["policy", "check", "/dev/zero"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"), "{out:?}");

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let out = Command::new(tether).args(["policy", "check"]).arg(&big).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hooks.max_policy_bytes"), "{out:?}");

    let config = dir.path().join("tether.toml");
    std::fs::write(&config, format!("[hooks]\npolicy_file = {:?}\n", big.display().to_string())).unwrap();
    let out = Command::new(tether)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hooks.max_policy_bytes"), "{out:?}");
}

/// `GET path` with the bearer token; the body as text (`/metrics` is not JSON).
async fn http_get_text(addr: std::net::SocketAddr, path: &str, token: &str) -> (u16, String) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    let (status, body) = http_raw(addr, request).await;
    (status, body.as_str().map(str::to_owned).unwrap_or_else(|| body.to_string()))
}
