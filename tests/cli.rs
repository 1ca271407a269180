//! The operator's command line against a real daemon: tables for people, JSON
//! lines for scripts, exit codes 0 / 1 (the daemon said no) / 2 (usage, unreachable).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

/// `tether ARGS` with the daemon's data directory as `TETHER_HOME`.
fn tether(daemon: &Daemon, args: &[&str]) -> Output {
    command(daemon, args).output().unwrap()
}

fn command(daemon: &Daemon, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .args(args)
        .env("TETHER_HOME", &daemon.data_dir)
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::null());
    command
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{:?}: {}", output.status, String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn harness(daemon: &Daemon) -> Client {
    let client = Client::builder(&daemon.url)
        .token(daemon.token())
        .on_request("tools.execute", |p: Value| async move { Ok(json!({"echo": p["parameters"]})) })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    client
}

async fn turn(client: &Client, id: &str) {
    let actions = json!([{"id": id, "type": "tool_call", "tool": "echo", "parameters": {"n": id}}]);
    client.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await.unwrap();
}

#[tokio::test]
async fn runs_are_listed_shown_and_traced_oldest_first_in_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let run =
        client.call_raw("runs.start", json!({"intent": "fix the login page", "agent_id": "fixer"})).await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    turn(&client, "a1").await;
    turn(&client, "a2").await;
    let outcome = json!({"status": "success", "summary": "fixed"});
    client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();

    let table = stdout(&tether(&daemon, &["runs", "ls"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("RUN") && lines[0].contains("STATUS"), "{table}");
    assert!(lines[1].contains(&run_id) && lines[1].contains("completed") && lines[1].contains("fix the login page"));
    let listed = json_lines(&tether(&daemon, &["runs", "ls", "--json", "--status", "completed"]));
    assert_eq!(listed[0]["run_id"], run_id.as_str());
    assert!(json_lines(&tether(&daemon, &["runs", "ls", "--json", "--status", "in_progress"])).is_empty());

    let trace = stdout(&tether(&daemon, &["runs", "trace", &run_id]));
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines.len(), 4, "{trace}");
    assert!(lines[0].contains("started") && lines[0].contains("fix the login page"), "{trace}");
    assert!(lines[1].contains("turn 0") && lines[1].contains("echo") && lines[1].contains("succeeded"), "{trace}");
    assert!(lines[3].contains("ended") && lines[3].contains("success: fixed"), "{trace}");
    let records = json_lines(&tether(&daemon, &["runs", "trace", &run_id, "--json"]));
    let kinds: Vec<&str> = records.iter().map(|r| r["record"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "turn", "turn", "ended"]);
    assert!(records[1]["recorded_at"].as_str().unwrap().starts_with("20"), "every turn says when it was recorded");

    let show = stdout(&tether(&daemon, &["runs", "show", &run_id]));
    assert!(show.starts_with(&format!("run {run_id}  agent fixer  2 turns  ended")), "{show}");
    let missing = tether(&daemon, &["runs", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(missing.status.code(), Some(1), "the daemon said no");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no run"));
}

#[tokio::test]
async fn runs_fork_diff_and_show_with_usage_and_budget() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let budget = json!({"max_tool_calls": 10, "max_cost_usd": 2.5});
    let run =
        client.call_raw("runs.start", json!({"intent": "i", "agent_id": "fixer", "budget": budget})).await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    for id in ["a1", "a2"] {
        let actions = json!([{"id": id, "type": "tool_call", "tool": "echo", "parameters": {"n": id}}]);
        let usage = json!({"input_tokens": 5, "output_tokens": 1, "cost_usd": 0.5});
        client.call_raw("proposal.submit", json!({"proposal": {"actions": actions}, "usage": usage})).await.unwrap();
    }
    let show = stdout(&tether(&daemon, &["runs", "show", &run_id]));
    assert!(show.contains("usage: 2 tool calls, 10 input + 2 output tokens, $1.0"), "{show}");
    assert!(show.contains("budget: max_cost_usd 2.5, max_tool_calls 10"), "{show}");

    let forked = json_lines(&tether(&daemon, &["runs", "fork", &run_id, "--turns", "1", "--json"]));
    let fork = forked[0]["run_id"].as_str().unwrap().to_owned();
    assert_eq!(forked[0]["forked_from"]["turns"], 1);
    assert!(forked[0]["resume_token"].is_string(), "a fork from the CLI waits to be resumed");
    let show = stdout(&tether(&daemon, &["runs", "show", &fork]));
    assert!(show.contains(&format!("forked from {run_id} after 1 turns")), "{show}");

    let diff = stdout(&tether(&daemon, &["runs", "diff", &run_id, &fork]));
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(lines[0], format!("--- a {run_id}"));
    assert_eq!(lines[2], "  [0|0] a1 echo", "{diff}");
    assert_eq!(lines[3], "- [1|-] a2 echo  only in a", "{diff}");
    assert_eq!(lines[4], "1 same, 0 changed, 1 only in a, 0 only in b");
    assert!(!diff.contains('\x1b'), "no colour off a terminal");
    let structure = json_lines(&tether(&daemon, &["runs", "diff", &run_id, &fork, "--json"]));
    assert_eq!(structure[0]["counts"]["only_in_a"], 1);
}

#[tokio::test]
async fn trace_follow_sees_live_turns_then_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let run = client.call_raw("runs.start", json!({"intent": "live", "agent_id": "live"})).await.unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    let mut follower =
        command(&daemon, &["runs", "trace", &run_id, "--follow", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(follower.stdout.take().unwrap()).lines();
    let next = |lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>| -> Value {
        serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap()
    };
    assert_eq!(next(&mut lines)["record"], "started", "the snapshot first");
    turn(&client, "live-1").await;
    assert_eq!(next(&mut lines)["action_id"], "live-1");
    turn(&client, "live-2").await;
    assert_eq!(next(&mut lines)["action_id"], "live-2");
    client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await.unwrap();
    assert_eq!(next(&mut lines)["record"], "ended");
    assert!(follower.wait().unwrap().success(), "it stops when the run ends");
}

#[tokio::test]
async fn sessions_from_spawn_to_removal() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let cwd = tempfile::tempdir().unwrap();
    let cwd_arg = cwd.path().to_str().unwrap();
    let spawned = json_lines(&tether(
        &daemon,
        &[
            "sessions",
            "spawn",
            "--json",
            "--name",
            "greeter",
            "--cwd",
            cwd_arg,
            "--",
            "sh",
            "-c",
            "echo hello from the session; while read l; do echo got:$l; done",
        ],
    ));
    let id = spawned[0]["session_id"].as_str().unwrap().to_owned();
    assert_eq!(spawned[0]["state"], "active");
    let table = stdout(&tether(&daemon, &["sessions", "ls"]));
    assert!(table.lines().nth(1).unwrap().contains("greeter") && table.contains("active"), "{table}");
    assert!(stdout(&tether(&daemon, &["sessions", "send", &id, "ping"])).contains("bytes"));
    wait_until("the session answers", async || {
        stdout(&tether(&daemon, &["sessions", "logs", &id])).contains("got:ping")
    })
    .await;
    assert_eq!(stdout(&tether(&daemon, &["sessions", "logs", &id])), "hello from the session\ngot:ping\n");
    let brief = json_lines(&tether(
        &daemon,
        &["sessions", "spawn", "--json", "--cwd", cwd_arg, "--", "sh", "-c", "echo one; sleep 0.3; echo two"],
    ));
    let brief = brief[0]["session_id"].as_str().unwrap().to_owned();
    let followed = stdout(&tether(&daemon, &["sessions", "logs", &brief, "-f"]));
    assert_eq!(followed, "one\ntwo\n", "-f prints as it comes and ends when the session does");

    let show = stdout(&tether(&daemon, &["sessions", "show", &id]));
    assert!(show.contains("greeter") && show.contains(cwd_arg), "{show}");
    assert!(stdout(&tether(&daemon, &["sessions", "stop", &id])).contains("stopped"));
    let removed = json_lines(&tether(&daemon, &["sessions", "rm", &id, "--json"]));
    assert_eq!(removed[0]["state"], "removed");
    assert_eq!(tether(&daemon, &["sessions", "stop", &id]).status.code(), Some(1));
}

#[tokio::test]
async fn an_approval_is_answered_from_the_command_line_and_the_waiting_hook_gets_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, format!("[hooks]\npolicy_file = {:?}\n", policy_fixture())).unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let fetch = |url: &str| json!({"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "WebFetch", "tool_input": {"url": url}});
    for (decision, url, code) in [("approve", "https://docs.example", 0), ("deny", "https://evil.example", 2)] {
        let mut hook = command(&daemon, &["hook", "--wait-ms", "30000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        hook.stdin.take().unwrap().write_all(fetch(url).to_string().as_bytes()).unwrap();
        let mut pending = Vec::new();
        wait_until("the approval is pending", async || {
            pending = json_lines(&tether(&daemon, &["approvals", "ls", "--json"]));
            !pending.is_empty()
        })
        .await;
        assert_eq!(pending[0]["input"]["url"], url);
        let id = pending[0]["approval_id"].as_str().unwrap();
        let human = stdout(&tether(&daemon, &["approvals", "ls"]));
        assert!(human.contains(id) && human.contains("WebFetch"), "{human}");
        let answered = stdout(&tether(&daemon, &["approvals", decision, id, "--reason", "checked"]));
        assert!(answered.contains(id), "{answered}");
        let output = hook.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{decision}");
        let hook_output: Value = serde_json::from_slice(&output.stdout).unwrap();
        let expected = if code == 0 { "allow" } else { "deny" };
        assert_eq!(hook_output["hookSpecificOutput"]["permissionDecision"], expected);
    }
    let again = tether(&daemon, &["approvals", "approve", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]);
    assert_eq!(again.status.code(), Some(1));

    // Both decisions are in the audit log, readable over RPC by the operator.
    let audit = json_lines(&tether(&daemon, &["audit", "--json", "--session", "s"]));
    let decisions: Vec<&str> = audit.iter().map(|e| e["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["allow", "deny"], "{audit:?}");
    let table = stdout(&tether(&daemon, &["audit"]));
    assert!(table.starts_with("TIME") && table.contains("WebFetch"), "{table}");
}

#[tokio::test]
async fn events_tail_prints_the_last_count_then_follows_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let mut runs = Vec::new();
    for intent in ["one", "two", "three", "four"] {
        let run = client.call_raw("runs.start", json!({"intent": intent, "agent_id": "tailed"})).await.unwrap();
        runs.push(run["run_id"].as_str().unwrap().to_owned());
    }
    let args = ["events", "tail", "--family", "runtime.status", "--count", "2", "--json"];
    let last_two = json_lines(&tether(&daemon, &[&args[..], &["--no-follow"]].concat()));
    let ids: Vec<&str> = last_two.iter().map(|e| e["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [runs[2].as_str(), runs[3].as_str()], "the last two, oldest first");

    let mut tail = command(&daemon, &args).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();
    let mut next = || serde_json::from_str::<Value>(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!((next()["run_id"].clone(), next()["run_id"].clone()), (json!(runs[2]), json!(runs[3])));
    // Printed after it subscribed: the next event reaches it live.
    let live = client.call_raw("runs.start", json!({"intent": "five", "agent_id": "tailed"})).await.unwrap();
    let event = next();
    assert_eq!((event["run_id"].clone(), event["kind"].clone()), (live["run_id"].clone(), json!("run.started")));
    tail.kill().unwrap();
    tail.wait().unwrap();
}

#[tokio::test]
async fn list_aliases_dash_o_watch_and_errors_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let first = client.call_raw("runs.start", json!({"intent": "watched", "agent_id": "w"})).await.unwrap();
    let listed = json_lines(&tether(&daemon, &["runs", "list", "-o", "json"]));
    assert_eq!(
        listed,
        json_lines(&tether(&daemon, &["runs", "ls", "--json"])),
        "`list` is `ls`, `-o json` is `--json`"
    );
    assert_eq!(listed[0]["run_id"], first["run_id"]);
    assert!(stdout(&tether(&daemon, &["sessions", "list", "-o", "table"])).starts_with("SESSION"));
    assert!(stdout(&tether(&daemon, &["approvals", "list"])).starts_with("APPROVAL"));

    // `runs ls --watch --json`: the list, then each run that changes, as it changes.
    let mut watch = command(&daemon, &["runs", "ls", "--watch", "--json"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next = || serde_json::from_str::<Value>(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(next()["run_id"], first["run_id"]);
    let second = client.call_raw("runs.start", json!({"intent": "appears", "agent_id": "w"})).await.unwrap();
    let row = next();
    assert_eq!((row["run_id"].clone(), row["status"].clone()), (second["run_id"].clone(), json!("in_progress")));
    let outcome = json!({"status": "success"});
    client.call_raw("runs.complete", json!({"run_id": second["run_id"], "outcome": outcome})).await.unwrap();
    let row = next();
    assert_eq!((row["run_id"].clone(), row["status"].clone()), (second["run_id"].clone(), json!("completed")));
    watch.kill().unwrap();
    watch.wait().unwrap();

    // With --json an error is JSON too, on stderr, with the exit code it exits with.
    let refused = tether(&daemon, &["runs", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--json"]);
    assert_eq!(refused.status.code(), Some(1), "the daemon said no");
    let line: Value = serde_json::from_slice(&refused.stderr).expect("one JSON line on stderr");
    assert_eq!(line["exit"], 1);
    assert!(line["error"].as_str().unwrap().contains("01ARZ3NDEKTSV4RRFFQ69G5FAV"), "{line}");
    let down = command(&daemon, &["runs", "ls", "-o", "json", "--url", "ws://127.0.0.1:1"]).output().unwrap();
    let line: Value = serde_json::from_slice(&down.stderr).expect("one JSON line on stderr");
    assert_eq!(line["exit"], 2);
    assert!(line["error"].as_str().unwrap().contains("tried ws://127.0.0.1:1"), "{line}");

    // A shell whose TETHER_HOME is not the daemon's: the error says where it looked.
    let elsewhere = tempfile::tempdir().unwrap();
    let lost = command(&daemon, &["runs", "ls"]).env("TETHER_HOME", elsewhere.path()).output().unwrap();
    assert_eq!(lost.status.code(), Some(2));
    let why = String::from_utf8_lossy(&lost.stderr);
    let path = elsewhere.path().join("auth-token");
    assert!(why.contains(&format!("no token found at {}", path.display())) && why.contains("TETHER_HOME"), "{why}");
}

#[tokio::test]
async fn status_policy_token_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let status = json_lines(&tether(&daemon, &["status", "--json"]));
    assert_eq!((status[0]["reachable"].clone(), status[0]["status"].clone()), (json!(true), json!("ok")));
    assert!(stdout(&tether(&daemon, &["status"])).starts_with("tether 0.1.0 — ok"));
    assert_eq!(stdout(&tether(&daemon, &["token"])).trim(), daemon.data_dir.join("auth-token").to_str().unwrap());
    assert_eq!(stdout(&tether(&daemon, &["token", "--show"])).trim(), daemon.token());

    let good = stdout(&tether(&daemon, &["policy", "check", policy_fixture().to_str().unwrap()]));
    assert!(good.contains("4 rules, ok"), "{good}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[rules]]\ndecision = \"maybe\"\n").unwrap();
    let refused = tether(&daemon, &["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("line 2"));
    assert!(stdout(&tether(&daemon, &["policy", "reload"])).contains("reloaded"));
    let fixture = policy_fixture();
    let good = json_lines(&tether(&daemon, &["policy", "check", "--json", fixture.to_str().unwrap()]));
    assert_eq!((good[0]["ok"].clone(), good[0]["rules"].clone()), (json!(true), json!(4)), "{good:?}");
    let refused = tether(&daemon, &["policy", "check", "--json", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&refused.stdout).expect("one JSON line, even when refused");
    assert_eq!(line["ok"], false);
    assert!(line["error"].as_str().unwrap().contains("line 2"), "{line}");
    // Out of the documented ranges: refused by the command line, before any call.
    for args in [&["runs", "ls", "--limit", "0"][..], &["runs", "ls", "--limit", "201"], &["audit", "--limit", "0"]] {
        let out = tether(&daemon, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--limit"), "{args:?}");
    }

    let unreachable = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["status", "--url", "ws://127.0.0.1:1", "--token-file"])
        .arg(daemon.data_dir.join("auth-token"))
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2), "a connection problem");
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("tried ws://127.0.0.1:1"), "says where it tried");
    let down = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["status", "--json", "--url", "ws://127.0.0.1:1", "--token-file"])
        .arg(daemon.data_dir.join("auth-token"))
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(2));
    let line: Value =
        serde_json::from_slice(&down.stdout).expect("status --json prints a line when the daemon is down");
    assert_eq!((line["reachable"].clone(), line["endpoint"].clone()), (json!(false), json!("ws://127.0.0.1:1")));
    assert_eq!(
        Command::new(env!("CARGO_BIN_EXE_tether")).args(["runs", "frobnicate"]).output().unwrap().status.code(),
        Some(2)
    );
    let completions = Command::new(env!("CARGO_BIN_EXE_tether")).args(["completions", "bash"]).output().unwrap();
    assert!(String::from_utf8_lossy(&completions.stdout).contains("tether"));
}

#[tokio::test]
async fn the_journal_is_verified_and_exported_offline_even_beside_a_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[journal]\nsegment_bytes = 2048\n").unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let client = harness(&daemon).await;
    let mut runs = Vec::new();
    for i in 0..6 {
        let run = client.call_raw("runs.start", json!({"intent": format!("run {i}"), "agent_id": "j"})).await.unwrap();
        turn(&client, &format!("t{i}")).await;
        client
            .call_raw("runs.complete", json!({"run_id": run["run_id"], "outcome": {"status": "done"}}))
            .await
            .unwrap();
        runs.push(run["run_id"].as_str().unwrap().to_owned());
    }
    // Beside the running daemon.
    let report = json_lines(&tether(&daemon, &["journal", "verify", "--json"]));
    assert_eq!(report[0]["runs"], 6);
    assert_eq!(report[0]["records"], 18);
    assert_eq!(report[0]["damage"], json!([]));
    let exported = json_lines(&tether(&daemon, &["journal", "export", &runs[0]]));
    let kinds: Vec<&str> = exported.iter().map(|r| r["record"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["started", "turn", "ended"]);

    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    std::fs::remove_file(daemon.data_dir.join("journal/seg-00000002.log")).unwrap();
    let damaged = tether(&daemon, &["journal", "verify"]);
    assert_eq!(damaged.status.code(), Some(1));
    let text = String::from_utf8_lossy(&damaged.stdout);
    assert!(text.contains("damage: segment 2 is missing"), "{text}");
}

#[test]
fn a_fifo_in_the_journal_directory_is_named_by_journal_verify_and_by_serve_and_hangs_neither() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &[]);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();
    let fifo = daemon.data_dir.join("journal/seg-00000007.log");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    let finished = |mut child: std::process::Child, what: &str| {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut stderr = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
                return (status, stderr);
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{what} hung on the FIFO");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let verify = command(&daemon, &["journal", "verify"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let (status, stderr) = finished(verify, "tether journal verify");
    assert!(!status.success());
    assert!(stderr.contains("seg-00000007.log is a FIFO, not a regular file"), "{stderr}");

    let serve = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&daemon.data_dir)
        .env_remove("TETHER_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stderr) = finished(serve, "tether serve");
    assert!(!status.success());
    assert!(stderr.contains("seg-00000007.log is a FIFO"), "{stderr}");
}

/// Ids as people type them: runs and sessions by a unique prefix, sessions by name; an
/// ambiguous prefix is a usage error naming the candidates; a closed pipe ends quietly.
#[tokio::test]
async fn ids_by_prefix_sessions_by_name_and_closed_pipes_end_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = harness(&daemon).await;
    let mut runs = Vec::new();
    for intent in ["first", "second"] {
        let run = client.call_raw("runs.start", json!({"intent": intent, "agent_id": "typist"})).await.unwrap();
        let run_id = run["run_id"].as_str().unwrap().to_owned();
        turn(&client, intent).await;
        let outcome = json!({"status": "success"});
        client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();
        runs.push(run_id);
    }
    // The shortest prefix that tells the two apart (ULIDs share their time part).
    let common = runs[0].chars().zip(runs[1].chars()).take_while(|(a, b)| a == b).count();
    let prefix = runs[1][..common + 1].to_lowercase();
    let show = stdout(&tether(&daemon, &["runs", "show", &prefix]));
    assert!(show.starts_with(&format!("run {}", runs[1])), "{show}");
    let ambiguous = tether(&daemon, &["runs", "trace", &runs[0][..common]]);
    assert_eq!(ambiguous.status.code(), Some(2));
    let why = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(why.contains("2 runs start with") && why.contains(&runs[0]) && why.contains(&runs[1]), "{why}");

    let cwd = tempfile::tempdir().unwrap();
    let spawned = tether(
        &daemon,
        &["sessions", "spawn", "--name", "nightly", "--cwd", cwd.path().to_str().unwrap(), "--", "sh", "-c", "echo hi"],
    );
    let id = stdout(&spawned).split_whitespace().next().unwrap().to_owned();
    let by_name = json_lines(&tether(&daemon, &["sessions", "show", "nightly", "--json"]));
    assert_eq!(by_name[0]["session_id"], id.as_str());
    let by_prefix = json_lines(&tether(&daemon, &["sessions", "show", &id[..20], "--json"]));
    assert_eq!(by_prefix[0]["session_id"], id.as_str());

    // `tether openrpc | head -c 1` and `tether completions bash | head -c 1`: the reader
    // leaves while the output (larger than a pipe holds) is still being written.
    for args in [&["openrpc"][..], &["completions", "bash"]] {
        let mut child = command(&daemon, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        std::io::Read::read_exact(&mut out, &mut first).unwrap();
        drop(out);
        let done = child.wait_with_output().unwrap();
        assert!(done.status.success(), "{args:?}: {:?}: {}", done.status, String::from_utf8_lossy(&done.stderr));
        assert!(done.stderr.is_empty(), "quietly: {}", String::from_utf8_lossy(&done.stderr));
    }
}

/// A bare repository with one commit on `main`.
fn origin(root: &std::path::Path) -> std::path::PathBuf {
    let git = |dir: &std::path::Path, args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    let (bare, work) = (root.join("origin.git"), root.join("work"));
    std::fs::create_dir_all(&work).unwrap();
    git(root, &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
    git(&work, &["init", "--quiet", "-b", "main"]);
    std::fs::write(work.join("README"), "hello\n").unwrap();
    git(&work, &["add", "README"]);
    git(&work, &["commit", "--quiet", "-m", "first"]);
    git(&work, &["push", "--quiet", bare.to_str().unwrap(), "main"]);
    bare
}

#[tokio::test]
async fn sessions_spawn_starts_claude_code_on_a_task_in_a_fresh_checkout_of_a_repo() {
    let dir = tempfile::tempdir().unwrap();
    // `echo` stands in for Claude Code: the session prints the argv the daemon built.
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[sessions.claude_code]\nprogram = \"echo\"\nhooks = false\nmcp = false\n").unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let bare = origin(dir.path());
    let args = ["sessions", "spawn", "--json", "--runtime", "claude-code", "--name", "fixer", "--repo"];
    let mut args: Vec<&str> = args.to_vec();
    args.extend([bare.to_str().unwrap(), "--ref", "main", "--", "fix", "the", "bug"]);
    let spawned = json_lines(&tether(&daemon, &args));
    let id = spawned[0]["session_id"].as_str().unwrap().to_owned();
    assert_eq!(spawned[0]["runtime"], "claude-code");
    assert_eq!(spawned[0]["workspace_owned"], true, "a worktree the daemon owns: {}", spawned[0]);
    assert!(std::path::Path::new(spawned[0]["cwd"].as_str().unwrap()).join("README").is_file());
    wait_until("Claude Code (echo) has run", async || {
        stdout(&tether(&daemon, &["sessions", "logs", &id])).contains("-p fix the bug")
    })
    .await;

    for (args, says) in [
        (&["sessions", "spawn", "--runtime", "claude-code"][..], "needs a prompt"),
        (&["sessions", "spawn", "--task", "t"], "needs a command"),
        (&["sessions", "spawn", "--runtime", "claude-code", "--task", "t", "--", "ls"], "prompt once"),
        (&["sessions", "spawn", "--ref", "main", "--", "ls"], "--repo"),
    ] {
        let out = tether(&daemon, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
