//! The real `tether` binary: readiness line, auth defaults, config, signals, discovery.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn wait_exit(daemon: &mut Daemon) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "daemon did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test]
async fn defaults_create_a_private_data_dir_and_token_and_require_auth() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let data = daemon.data_dir.clone();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("auth-token")), 0o600);
    assert_eq!(daemon.token().len(), 64, "a 256-bit token, hex");
    assert_eq!(mode(&data.join("tether.sock")), 0o600);

    assert!(Client::builder(&daemon.url).connect().await.is_err(), "no token, no session");
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    let unix = Client::builder_unix(data.join("tether.sock")).token(daemon.token()).connect().await.unwrap();
    assert_eq!(unix.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    assert_eq!(http_get(daemon.addr, "/healthz").await.1["status"], "ok");
}

#[tokio::test]
async fn an_existing_token_file_is_reused_and_tether_token_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Daemon::spawn(dir.path(), &[]);
    let token = first.token();
    drop(first);
    let again = Daemon::spawn(dir.path(), &[]);
    assert_eq!(again.token(), token, "the token survives a restart");
    drop(again);

    let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("TETHER_TOKEN", "from-the-environment")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    let url = line.trim().strip_prefix("tether listening on ").unwrap().to_owned();
    let client = Client::builder(&url).token("from-the-environment").connect().await;
    let file_token = Client::builder(&url).token(&token).connect().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(client.is_ok(), "TETHER_TOKEN is accepted");
    assert!(file_token.is_err(), "and replaces the file's token");
}

#[tokio::test]
async fn no_auth_lets_a_client_in_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--no-auth"]);
    let client = Client::builder(&daemon.url).connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
}

#[test]
fn a_non_loopback_listen_address_needs_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("allow_remote"), "{stderr}");
    assert!(output.stdout.is_empty(), "no readiness line for a refused bind");
}

#[tokio::test]
async fn the_config_file_sets_limits_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:1\"\nauth = false\n[limits]\nmax_batch = 2\n").unwrap();
    // --listen overrides the file's unusable port; auth = false comes from the file.
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
    let ping = |id: i64| json!({"jsonrpc":"2.0","id":id,"method":"server.ping"});
    let reply = rpc(&mut ws, json!([ping(1), ping(2), ping(3)])).await;
    assert_eq!(reply["error"]["code"], -32600, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("max_batch = 2"));
}

#[test]
fn a_bad_config_file_fails_fast_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[limits]\nmax_batch = \"lots\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("max_batch"));
}

#[tokio::test]
async fn sigterm_closes_connections_with_1012_and_sigint_with_1001_and_both_exit_zero() {
    // SIGTERM is how service managers restart a service: 1012 tells clients to come back.
    for (signal, code) in [("TERM", CloseCode::Restart), ("INT", CloseCode::Away)] {
        let dir = tempfile::tempdir().unwrap();
        let mut daemon = Daemon::spawn(dir.path(), &[]);
        let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
        let auth =
            rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":daemon.token()}}))
                .await;
        assert_eq!(auth["result"]["ok"], true);
        daemon.signal(signal);
        assert_eq!(close_frame(&mut ws).await.unwrap().code, code, "SIG{signal}");
        let status = wait_exit(&mut daemon);
        assert_eq!(status.code(), Some(0), "SIG{signal}");
        assert!(!daemon.data_dir.join("tether.sock").exists(), "the socket file is removed");
    }
}

#[tokio::test]
async fn discovery_lists_every_registered_method_with_resolvable_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let doc = client.call_raw("rpc.discover", json!({})).await.unwrap();
    assert!(doc["openrpc"].as_str().unwrap().starts_with("1."));
    let mut listed: Vec<&str> =
        doc["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    listed.sort();
    let scratch = tempfile::tempdir().unwrap();
    let registry = tether::registry(scratch.path(), &Default::default(), std::sync::Arc::new(tether_store::RealFsync))
        .await
        .unwrap();
    let mut registered: Vec<&str> = registry.method_names().collect();
    registered.sort();
    assert_eq!(listed, registered, "every registered method is discoverable, and nothing else");
    for method in doc["methods"].as_array().unwrap() {
        assert!(method["params"][0]["schema"].is_object(), "{method}");
        assert!(method["result"]["schema"].is_object() || method["result"]["schema"].is_boolean(), "{method}");
    }
    // Every $ref points into components.schemas.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split('"').next().unwrap();
        let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("ref {target}"));
        assert!(doc["components"]["schemas"][name] != Value::Null, "dangling ref {target}");
    }
}

#[tokio::test]
async fn tether_openrpc_prints_offline_what_rpc_discover_answers_with_the_server_messages() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let live = client.call_raw("rpc.discover", json!({})).await.unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tether")).arg("openrpc").env_remove("TETHER_HOME").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let offline: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(offline, live, "the printed document is the daemon's own");
    let messages: Vec<(&str, &str)> = live["x-server-messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["x-kind"].as_str().unwrap()))
        .collect();
    for expected in [
        ("tools.execute", "request"),
        ("tools.cancel", "notification"),
        ("runs.trace.event", "notification"),
        ("events.event", "notification"),
        ("sessions.output.event", "notification"),
    ] {
        assert!(messages.contains(&expected), "{expected:?} in {messages:?}");
    }
}

#[test]
fn a_data_dir_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("chmod 700"));
}

#[tokio::test]
async fn bad_input_never_panics_or_logs_at_error_level_and_json_logs_parse() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::spawn(dir.path(), &["--log-format", "json"]);
    let token = daemon.token();
    for garbage in ["{", "[]", "[1,2]", "null", "{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"x\"}"] {
        let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
        rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":token}})).await;
        send_text(&mut ws, garbage).await;
        recv(&mut ws).await;
    }
    let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
    send_text(&mut ws, "not even auth").await;
    close_frame(&mut ws).await;
    daemon.signal("TERM");
    assert_eq!(wait_exit(&mut daemon).code(), Some(0));

    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_ne!(entry["level"], "ERROR", "{line}");
    }
    assert!(!log.contains("panicked"));
}

/// Every file under `dir`, by path, with its bytes.
fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[tokio::test]
async fn a_second_daemon_on_a_live_data_directory_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let run = client.call_raw("runs.start", json!({"intent": "live", "agent_id": "a"})).await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let reader = json!(["sh", "-c", "while read line; do echo $line; done"]);
    let session = client.call_raw("sessions.spawn", json!({"task": "t", "command": reader, "cwd": cwd.path()})).await;
    let session = session.unwrap();
    let journal = snapshot(&daemon.data_dir.join("journal"));
    let sessions = snapshot(&daemon.data_dir.join("sessions"));

    let second = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&daemon.data_dir)
        .env_remove("TETHER_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(second.stdout.is_empty(), "no readiness line");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains(&format!("pid {}", daemon.child.id())), "{stderr}");

    assert!(journal == snapshot(&daemon.data_dir.join("journal")), "the journal is byte-for-byte unchanged");
    assert!(sessions == snapshot(&daemon.data_dir.join("sessions")), "the sessions are byte-for-byte unchanged");
    let record = client.call_raw("sessions.get", json!({"session_id": session["session_id"]})).await.unwrap();
    assert_eq!(record["state"], "active", "the live daemon's session runs on");
    let list = client.call_raw("runs.list", json!({"agent_id": "a"})).await.unwrap();
    assert_eq!(list["runs"][0]["run_id"], run["run_id"]);
    assert_eq!(list["runs"][0]["status"], "in_progress", "the live run was not ended by the second daemon");
    client.call_raw("sessions.stop", json!({"session_id": session["session_id"], "grace_ms": 100})).await.unwrap();
}

/// `THP_enabled` of a process, where the kernel says it (Linux 5.0 on).
fn huge_pages_enabled(pid: &str) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line.ends_with('1'))
}

#[tokio::test]
async fn the_daemon_runs_without_transparent_huge_pages_and_its_sessions_get_them_back() {
    if huge_pages_enabled("self") != Some(true) {
        eprintln!("skipped: this kernel does not report THP_enabled, or it is off for this process");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    assert_eq!(huge_pages_enabled(&daemon.child.id().to_string()), Some(false), "the daemon turned them off");
    let operator = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let command = json!(["sh", "-c", "grep THP_enabled /proc/self/status; echo end"]);
    let record = operator
        .call_raw("sessions.spawn", json!({"task": "thp", "command": command, "cwd": cwd.path()}))
        .await
        .unwrap();
    let id = record["session_id"].as_str().unwrap().to_owned();
    let output = async || {
        let out = operator.call_raw("sessions.output", json!({"session_id": id})).await.unwrap();
        out["text"].as_str().unwrap().to_owned()
    };
    wait_until("the session printed its status", async || output().await.contains("end")).await;
    let text = output().await;
    assert!(text.contains("THP_enabled:\t1"), "the agent starts with the system's default: {text}");
}
