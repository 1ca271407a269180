//! What the MCP tests share: the official SDK client (`client.py`) run with a plan, a
//! daemon with the test policy, a run made over the WebSocket.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};
use tether_client::Client;

pub fn python() -> String {
    std::env::var("TETHER_TEST_PYTHON").unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

pub fn client_script() -> String {
    format!("{}/tests/mcp/client.py", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the SDK client with `plan`; its JSON answer.
pub fn mcp_client(plan: &Value) -> Value {
    let output = Command::new(python()).arg(client_script()).arg(plan.to_string()).output().unwrap();
    assert!(output.status.success(), "the MCP client failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A stdio plan: `tether mcp` against `daemon` with the operator's token.
pub fn stdio_plan(daemon: &Daemon, mode: &str, extra_args: &[&str], calls: Value) -> Value {
    let mut args = vec!["mcp", "--url", daemon.url.as_str()];
    args.extend_from_slice(extra_args);
    json!({
        "mode": mode,
        "command": env!("CARGO_BIN_EXE_tether"),
        "args": args,
        "env": {"TETHER_TOKEN": daemon.token()},
        "calls": calls,
    })
}

pub fn daemon(dir: &Path) -> Daemon {
    let config = dir.join("tether.toml");
    std::fs::write(&config, format!("[hooks]\npolicy_file = {:?}\n", policy_fixture().to_str().unwrap())).unwrap();
    Daemon::spawn(dir, &["--config", config.to_str().unwrap()])
}

/// A finished run with two tool calls, made over the WebSocket.
pub async fn a_run(daemon: &Daemon) -> (Client, String) {
    let harness = echo_harness(daemon, &[]).await;
    let started =
        harness.call_raw("runs.start", json!({"intent": "seen through MCP", "agent_id": "builder"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let actions = json!([
        {"id": "a1", "type": "tool_call", "tool": "echo", "parameters": {"n": 1}},
        {"id": "a2", "type": "tool_call", "tool": "echo", "parameters": {"n": 2}},
    ]);
    harness.call_raw("proposal.submit", json!({"proposal": {"id": "p1", "actions": actions}})).await.unwrap();
    harness.call_raw("runs.complete", json!({"run_id": run_id, "outcome": {"status": "done"}})).await.unwrap();
    (harness, run_id)
}

/// The SDK client, running: its answer comes a line at a time (`{"ready": …}` first, when
/// the plan has it say so, then the answer).
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    pub fn start(plan: &Value) -> Running {
        let mut child = Command::new(python())
            .arg(client_script())
            .arg(plan.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Running { child, lines }
    }

    /// The next line the client prints, as JSON (it says it is ready, or answers).
    pub fn next(&self) -> Value {
        let line = self.lines.recv_timeout(Duration::from_secs(60)).expect("the MCP client printed nothing in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the client inside a managed session (so with the session's own token); its answer.
pub async fn in_session(daemon: &Daemon, plan: &Value) -> Value {
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let command = json!([python(), client_script(), plan.to_string()]);
    let spawned = operator
        .call_raw("sessions.spawn", json!({"task": "ask tether", "command": command, "cwd": cwd.path()}))
        .await
        .unwrap();
    let id = spawned["session_id"].as_str().unwrap().to_owned();
    wait_until("the agent's client exits", async || {
        operator.call_raw("sessions.get", json!({"session_id": id})).await.unwrap()["state"] == "exited"
    })
    .await;
    let out = operator.call_raw("sessions.output", json!({"session_id": id})).await.unwrap();
    let text = out["text"].as_str().unwrap();
    let mut answer: Value = serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON answer ({e}): {text}"));
    answer["session_id"] = json!(id);
    answer
}

/// The names `tools/list` gave.
pub fn tool_names(answer: &Value) -> Vec<String> {
    answer["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

/// Every tool name the operator sees: the agent's and then the operator's own.
pub fn operator_tool_names() -> Vec<String> {
    tether_mcp::TOOL_NAMES.iter().chain(tether_mcp::OPERATOR_TOOL_NAMES.iter()).map(|n| n.to_string()).collect()
}
