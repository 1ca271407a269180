//! Managed sessions with real child processes and real git, over a real socket.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

/// A child that lives until its stdin closes (so it never outlives the test).
fn reader() -> Value {
    json!(["sh", "-c", "while read line; do echo got:$line; done"])
}

fn example_agent() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_tether")).parent().unwrap().join("examples/session_agent")
}

async fn spawn(client: &Client, params: Value) -> Value {
    client.call_raw("sessions.spawn", params).await.unwrap()
}

async fn get(client: &Client, id: &str) -> Value {
    client.call_raw("sessions.get", json!({"session_id": id})).await.unwrap()
}

async fn wait_for_state(client: &Client, id: &str, state: &str) -> Value {
    wait_until(&format!("session {id} is {state}"), async || get(client, id).await["state"] == state).await;
    get(client, id).await
}

async fn output(client: &Client, id: &str) -> String {
    let out = client.call_raw("sessions.output", json!({"session_id": id})).await.unwrap();
    out["text"].as_str().unwrap().to_owned()
}

async fn wait_for_output(client: &Client, id: &str, needle: &str) -> String {
    wait_until(&format!("session {id} prints {needle:?}"), async || output(client, id).await.contains(needle)).await;
    output(client, id).await
}

#[tokio::test]
async fn a_spawned_harness_connects_back_and_its_run_is_linked() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let agent = example_agent().to_string_lossy().into_owned();
    let record = spawn(
        &operator,
        json!({"task": "say hello", "command": [agent, "say hello"], "cwd": cwd.path(), "name": "greeter"}),
    )
    .await;
    let id = record["session_id"].as_str().unwrap().to_owned();
    assert_eq!(record["state"], "active");
    assert_eq!(record["name"], "greeter");
    assert!(record["pid"].as_u64().unwrap() > 0);
    assert_eq!(record["workspace_owned"], false);

    let done = wait_for_state(&operator, &id, "exited").await;
    assert_eq!(done["exit_code"], 0, "{done}");
    let runs = done["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{done}");
    assert_eq!(runs[0]["agent_id"], format!("session:{id}"));
    assert_eq!(runs[0]["session_id"], id.as_str());
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["turn_count"], 1);
    let text = wait_for_output(&operator, &id, "completed").await;
    assert!(text.contains(&format!("session {id}: connecting to {}", server.url)), "{text}");
    let log = server.data_dir.join(format!("sessions/{id}/output.log"));
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&log).unwrap().permissions()) & 0o777, 0o600);
    let tail = operator.call_raw("sessions.output", json!({"session_id": id, "tail_lines": 1})).await.unwrap();
    assert!(tail["text"].as_str().unwrap().starts_with("run "), "{tail}");
}

#[tokio::test]
async fn send_stop_and_resume() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let record = spawn(&operator, json!({"task": "echo lines", "command": reader(), "cwd": cwd.path()})).await;
    let id = record["session_id"].as_str().unwrap().to_owned();
    let sent = operator.call_raw("sessions.send", json!({"session_id": id, "text": "ping"})).await.unwrap();
    assert_eq!(sent["bytes"], 5);
    wait_for_output(&operator, &id, "got:ping").await;

    let stopped = operator.call_raw("sessions.stop", json!({"session_id": id, "grace_ms": 2000})).await.unwrap();
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(stopped["stop_cause"], "requested");
    let refused = operator.call_raw("sessions.send", json!({"session_id": id, "text": "x"})).await.unwrap_err();
    assert!(refused.to_string().contains("is stopped"), "{refused}");

    let resumed = operator.call_raw("sessions.resume", json!({"session_id": id})).await.unwrap();
    assert_eq!(resumed["state"], "active");
    assert_ne!(resumed["pid"], record["pid"]);
    assert!(resumed.get("stop_cause").is_none());
    operator.call_raw("sessions.send", json!({"session_id": id, "text": "again"})).await.unwrap();
    wait_for_output(&operator, &id, "got:again").await;
    let from = operator.call_raw("sessions.output", json!({"session_id": id, "since_offset": 0})).await.unwrap();
    assert_eq!(from["text"], "got:ping\ngot:again\n", "the log spans both processes");
    let next = operator
        .call_raw("sessions.output", json!({"session_id": id, "since_offset": from["next_offset"]}))
        .await
        .unwrap();
    assert_eq!(next["text"], "");
    operator.call_raw("sessions.stop", json!({"session_id": id})).await.unwrap();
}

#[tokio::test]
async fn a_stop_escalates_to_sigkill_after_the_grace() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let stubborn = json!(["sh", "-c", "trap '' TERM; echo ready; while read line; do :; done"]);
    let record = spawn(&operator, json!({"task": "ignore TERM", "command": stubborn, "cwd": cwd.path()})).await;
    let id = record["session_id"].as_str().unwrap();
    wait_for_output(&operator, id, "ready").await;
    let stopped = operator.call_raw("sessions.stop", json!({"session_id": id, "grace_ms": 100})).await.unwrap();
    assert_eq!(stopped["state"], "stopped");
    assert_eq!(stopped["exit_code"], 128 + 9, "killed by SIGKILL: {stopped}");
}

#[tokio::test]
async fn exit_codes_are_captured() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let record =
        spawn(&operator, json!({"task": "fail", "command": ["sh", "-c", "echo bye; exit 7"], "cwd": cwd.path()})).await;
    let done = wait_for_state(&operator, record["session_id"].as_str().unwrap(), "exited").await;
    assert_eq!(done["exit_code"], 7);
    assert!(done.get("stop_cause").is_none());
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A bare repository with one commit on `main` (a file `README`) and a tag `v1`.
fn origin(root: &Path) -> PathBuf {
    let bare = root.join("origin.git");
    let work = root.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(root, &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
    git(&work, &["init", "--quiet"]);
    std::fs::write(work.join("README"), "hello\n").unwrap();
    git(&work, &["add", "README"]);
    git(&work, &["commit", "--quiet", "-m", "first"]);
    git(&work, &["tag", "v1"]);
    git(&work, &["push", "--quiet", bare.to_str().unwrap(), "main", "v1"]);
    bare
}

#[tokio::test]
async fn a_repo_gets_its_own_worktree_on_a_tether_branch_and_removal_deletes_only_that() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let root = tempfile::tempdir().unwrap();
    let bare = origin(root.path());
    let show = json!(["sh", "-c", "git rev-parse --abbrev-ref HEAD; cat README"]);
    let record = spawn(&operator, json!({"task": "look", "command": show, "repo": {"url": bare, "ref": "main"}})).await;
    let id = record["session_id"].as_str().unwrap().to_owned();
    assert_eq!(record["workspace_owned"], true);
    let workspace = PathBuf::from(record["workspace"].as_str().unwrap());
    assert!(workspace.starts_with(&server.data_dir), "{workspace:?}");
    wait_for_state(&operator, &id, "exited").await;
    let text = wait_for_output(&operator, &id, "hello").await;
    assert!(text.starts_with(&format!("tether/{id}\n")), "{text}");

    let tagged =
        spawn(&operator, json!({"task": "tag", "command": ["true"], "repo": {"url": bare, "ref": "v1"}})).await;
    assert_eq!(tagged["state"], "active", "a tag checks out too: {tagged}");

    let removed =
        operator.call_raw("sessions.remove", json!({"session_id": id, "delete_workspace": true})).await.unwrap();
    assert_eq!(removed["state"], "removed");
    assert!(!workspace.exists(), "the owned worktree is deleted");
    assert!(bare.join("HEAD").exists(), "the origin is untouched");
    let listed = operator.call_raw("sessions.list", json!({})).await.unwrap();
    assert!(
        listed.as_array().unwrap().iter().all(|s| s["session_id"] != id.as_str()),
        "removed sessions are not listed"
    );
}

#[tokio::test]
async fn a_bad_repo_or_ref_leaves_an_errored_session_with_gits_message() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let root = tempfile::tempdir().unwrap();
    let bare = origin(root.path());
    let bad_ref =
        spawn(&operator, json!({"task": "x", "command": ["true"], "repo": {"url": bare, "ref": "no-such-branch"}}))
            .await;
    assert_eq!(bad_ref["state"], "errored");
    assert!(bad_ref["error"].as_str().unwrap().contains("no-such-branch"), "{bad_ref}");
    let missing = root.path().join("nowhere.git");
    let bad_url = spawn(&operator, json!({"task": "x", "command": ["true"], "repo": {"url": missing}})).await;
    assert_eq!(bad_url["state"], "errored");
    assert!(bad_url["error"].as_str().unwrap().contains("nowhere.git"), "{bad_url}");
    let refused = operator.call_raw("sessions.resume", json!({"session_id": bad_url["session_id"]})).await.unwrap_err();
    assert!(refused.to_string().contains("no workspace"), "{refused}");
}

#[tokio::test]
async fn active_sessions_are_capped() {
    let sessions = tether_sessions::SessionsConfig { max_active: 2, ..Default::default() };
    let server = TestServer::start_setup(Setup { sessions, ..Default::default() }, |_| {}).await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let first = spawn(&operator, json!({"task": "1", "command": reader(), "cwd": cwd.path()})).await;
    spawn(&operator, json!({"task": "2", "command": reader(), "cwd": cwd.path()})).await;
    let third = operator
        .call_raw("sessions.spawn", json!({"task": "3", "command": reader(), "cwd": cwd.path()}))
        .await
        .unwrap_err();
    assert_eq!(third.code(), Some(-32003));
    assert!(third.to_string().contains("max_active = 2"), "{third}");
    operator.call_raw("sessions.stop", json!({"session_id": first["session_id"]})).await.unwrap();
    spawn(&operator, json!({"task": "3", "command": reader(), "cwd": cwd.path()})).await;
}

#[tokio::test]
async fn bad_spawn_input_is_refused_before_any_side_effect() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let err = |params: Value| {
        let operator = operator.clone();
        async move { operator.call_raw("sessions.spawn", params).await.unwrap_err().to_string() }
    };
    let runtime = err(json!({"task": "x", "runtime": "gpt-9", "command": ["true"], "cwd": cwd.path()})).await;
    assert!(runtime.contains("params.runtime"), "{runtime}");
    let missing = err(json!({"task": "x", "command": ["true"], "cwd": "/no/such/dir"})).await;
    assert!(missing.contains("/no/such/dir"), "{missing}");
    assert!(err(json!({"task": "", "command": ["true"], "cwd": cwd.path()})).await.contains("params.task"));
    assert!(err(json!({"task": "x", "command": [], "cwd": cwd.path()})).await.contains("params.command"));
    assert!(
        err(json!({"task": "x", "command": ["true"], "cwd": cwd.path(), "env": {"BAD-KEY": "1"}}))
            .await
            .contains("BAD-KEY")
    );
    assert!(
        err(json!({"task": "x", "command": ["true"], "cwd": cwd.path(), "env": {"TETHER_TOKEN": "x"}}))
            .await
            .contains("reserved")
    );
    assert!(
        err(json!({"task": "x".repeat(70_000), "command": ["true"], "cwd": cwd.path()}))
            .await
            .contains("max_task_bytes")
    );
    assert!(err(json!({"task": "x", "command": ["true"]})).await.contains("params.cwd"));
    assert_eq!(operator.call_raw("sessions.list", json!({})).await.unwrap(), json!([]), "nothing was spawned");
    let session_dirs = std::fs::read_dir(server.data_dir.join("sessions")).unwrap().count();
    assert_eq!(session_dirs, 0, "nothing was provisioned");

    spawn(&operator, json!({"task": "x", "command": reader(), "cwd": cwd.path(), "name": "twin"})).await;
    assert!(
        err(json!({"task": "y", "command": reader(), "cwd": cwd.path(), "name": "twin"})).await.contains("params.name")
    );
    let unknown = operator.call_raw("sessions.get", json!({"session_id": "01NOPE"})).await.unwrap_err();
    assert_eq!(unknown.code(), Some(-32602));
    assert!(unknown.to_string().contains("01NOPE"));
}

#[tokio::test]
async fn sending_to_an_exited_session_is_a_clear_error() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let record = spawn(&operator, json!({"task": "x", "command": ["true"], "cwd": cwd.path()})).await;
    let id = record["session_id"].as_str().unwrap();
    wait_for_state(&operator, id, "exited").await;
    let err = operator.call_raw("sessions.send", json!({"session_id": id, "text": "hi"})).await.unwrap_err();
    assert_eq!(err.code(), Some(-32602));
    assert!(err.to_string().contains("is exited") && err.to_string().contains("cannot send"), "{err}");
}

#[tokio::test]
async fn removing_never_deletes_an_unowned_workspace() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let mine = tempfile::tempdir().unwrap();
    std::fs::write(mine.path().join("precious.txt"), "keep me").unwrap();
    let record = spawn(&operator, json!({"task": "x", "command": reader(), "cwd": mine.path()})).await;
    let id = record["session_id"].as_str().unwrap();
    let early = operator.call_raw("sessions.remove", json!({"session_id": id})).await.unwrap_err();
    assert!(early.to_string().contains("cannot remove"), "an active session is stopped first: {early}");
    operator.call_raw("sessions.stop", json!({"session_id": id})).await.unwrap();
    let removed =
        operator.call_raw("sessions.remove", json!({"session_id": id, "delete_workspace": true})).await.unwrap();
    assert_eq!(removed["state"], "removed");
    assert_eq!(std::fs::read_to_string(mine.path().join("precious.txt")).unwrap(), "keep me");
}

#[tokio::test]
async fn only_the_operator_changes_sessions_and_a_session_reads_only_itself() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let agent = server.client().agent_id("someone").connect().await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let refused = agent
        .call_raw("sessions.spawn", json!({"task": "x", "command": ["true"], "cwd": cwd.path()}))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(-32003));

    // Two sessions that print their own credentials, then wait.
    let print = json!(["sh", "-c", "echo $TETHER_TOKEN; while read line; do :; done"]);
    let a = spawn(&operator, json!({"task": "a", "command": print, "cwd": cwd.path()})).await;
    let b = spawn(&operator, json!({"task": "b", "command": print, "cwd": cwd.path()})).await;
    let (a_id, b_id) = (a["session_id"].as_str().unwrap(), b["session_id"].as_str().unwrap());
    let token = wait_for_output(&operator, a_id, "tss_").await.trim().to_owned();
    let as_a = Client::builder(&server.url).token(&token).connect().await.unwrap();
    assert_eq!(get(&as_a, a_id).await["session_id"], a_id);
    let other = as_a.call_raw("sessions.get", json!({"session_id": b_id})).await.unwrap_err();
    assert_eq!(other.code(), Some(-32602), "another session reads as unknown");
    let listed = as_a.call_raw("sessions.list", json!({})).await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let run = as_a.call_raw("runs.start", json!({"intent": "mine", "agent_id": "spoof"})).await.unwrap_err();
    assert!(run.to_string().contains(&format!("session:{a_id}")), "the token fixes the agent: {run}");
}

#[tokio::test]
async fn allowlists_restrict_commands_and_repositories() {
    let sessions = tether_sessions::SessionsConfig {
        allowed_commands: vec!["sh".into()],
        allowed_repos: vec!["https://git.example.com/acme/*".into()],
        ..Default::default()
    };
    let server = TestServer::start_setup(Setup { sessions, ..Default::default() }, |_| {}).await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let ok = spawn(&operator, json!({"task": "x", "command": ["/bin/sh", "-c", "true"], "cwd": cwd.path()})).await;
    assert_eq!(ok["state"], "active", "/bin/sh matches `sh` by file name");
    let cmd = operator
        .call_raw("sessions.spawn", json!({"task": "x", "command": ["python3"], "cwd": cwd.path()}))
        .await
        .unwrap_err();
    assert_eq!(cmd.code(), Some(-32003));
    assert!(cmd.to_string().contains("allowed_commands"), "{cmd}");
    let repo = json!({"task": "x", "command": ["sh"], "repo": {"url": "https://elsewhere.example.com/x.git"}});
    let refused = operator.call_raw("sessions.spawn", repo).await.unwrap_err();
    assert!(refused.to_string().contains("allowed_repos"), "{refused}");
    let claude = operator
        .call_raw("sessions.spawn", json!({"task": "x", "runtime": "claude-code", "cwd": cwd.path()}))
        .await
        .unwrap_err();
    assert!(claude.to_string().contains("claude"), "the claude-code runtime obeys the allowlist too: {claude}");
}

/// What a session's process sees of the data directory: a listing, a secret, and git.
fn probe(data_dir: &Path) -> Value {
    let script = format!(
        "ls -A '{d}' | tr '\\n' ' '; echo; cat '{d}/secret' 2>/dev/null && echo LEAKED || echo hidden; \
         echo ok > mine && cat mine; git status --short --branch | head -1; echo end",
        d = data_dir.display()
    );
    json!(["sh", "-c", script])
}

#[tokio::test]
async fn a_confined_session_sees_its_own_workspace_and_nothing_else_of_the_data_directory() {
    let server = TestServer::start().await;
    std::fs::write(server.data_dir.join("secret"), "the operator's token, say").unwrap();
    let operator = server.connect().await;
    let root = tempfile::tempdir().unwrap();
    let bare = origin(root.path());
    let record =
        spawn(&operator, json!({"task": "peek", "command": probe(&server.data_dir), "repo": {"url": bare}})).await;
    let id = record["session_id"].as_str().unwrap().to_owned();
    let done = wait_for_state(&operator, &id, "exited").await;
    assert_eq!(done["confined"], true, "{done}");
    assert_eq!(done["exit_code"], 0, "{done}");
    let text = wait_for_output(&operator, &id, "end").await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0].trim(), "repos sessions", "only the paths to its worktree and base repository: {text}");
    assert_eq!(lines[1], "hidden", "{text}");
    assert_eq!(lines[2], "ok", "it writes in its workspace: {text}");
    assert!(lines[3].starts_with(&format!("## tether/{id}")), "git works in the worktree: {text}");
    assert_eq!(std::fs::read_to_string(server.data_dir.join(format!("sessions/{id}/workspace/mine"))).unwrap(), "ok\n");

    // A session working outside the data directory sees none of it either.
    let cwd = tempfile::tempdir().unwrap();
    let outside =
        spawn(&operator, json!({"task": "peek", "command": probe(&server.data_dir), "cwd": cwd.path()})).await;
    let id = outside["session_id"].as_str().unwrap().to_owned();
    wait_for_state(&operator, &id, "exited").await;
    let text = wait_for_output(&operator, &id, "end").await;
    assert!(text.starts_with("\nhidden\nok\n"), "an empty data directory: {text}");
}

#[tokio::test]
async fn with_confinement_off_a_session_runs_with_the_daemons_rights() {
    let sessions = tether_sessions::SessionsConfig { confine: tether_sessions::Confine::Off, ..Default::default() };
    let server = TestServer::start_setup(Setup { sessions, ..Default::default() }, |_| {}).await;
    std::fs::write(server.data_dir.join("secret"), "s").unwrap();
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let record = spawn(&operator, json!({"task": "peek", "command": probe(&server.data_dir), "cwd": cwd.path()})).await;
    let id = record["session_id"].as_str().unwrap().to_owned();
    assert_eq!(wait_for_state(&operator, &id, "exited").await["confined"], false);
    assert!(wait_for_output(&operator, &id, "end").await.contains("LEAKED"));
}

#[tokio::test]
async fn output_is_followed_live_with_consecutive_offsets_until_the_session_stops() {
    let sessions = tether_sessions::SessionsConfig { max_follows: 1, ..Default::default() };
    let server = TestServer::start_setup(Setup { sessions, ..Default::default() }, |_| {}).await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let record = spawn(&operator, json!({"task": "echo", "command": reader(), "cwd": cwd.path()})).await;
    let id = record["session_id"].as_str().unwrap().to_owned();
    let follow = operator.call_raw("sessions.follow", json!({"session_id": id, "since_offset": 0})).await.unwrap();
    assert_eq!(follow["offset"], 0);
    let other = spawn(&operator, json!({"task": "other", "command": reader(), "cwd": cwd.path()})).await;
    let capped = operator.call_raw("sessions.follow", json!({"session_id": other["session_id"]})).await.unwrap_err();
    assert_eq!(capped.code(), Some(-32002), "{capped}");

    let mut text = String::new();
    let mut next = 0;
    for line in ["one", "two", "three"] {
        operator.call_raw("sessions.send", json!({"session_id": id, "text": line})).await.unwrap();
        while !text.ends_with(&format!("got:{line}\n")) {
            let note = tokio::time::timeout(PATIENCE, operator.next_notification()).await.unwrap().unwrap();
            assert_eq!(note.method, "sessions.output.event");
            assert_eq!(note.params["offset"], next, "consecutive: no gap, no overlap");
            let chunk = note.params["text"].as_str().unwrap();
            next += chunk.len() as u64;
            text.push_str(chunk);
        }
    }
    assert_eq!(text, "got:one\ngot:two\ngot:three\n");
    operator.call_raw("sessions.stop", json!({"session_id": id})).await.unwrap();
    let end = tokio::time::timeout(PATIENCE, operator.next_notification()).await.unwrap().unwrap();
    assert_eq!((end.method.as_str(), end.params["state"].as_str()), ("sessions.output.end", Some("stopped")));
    // The stream ended, so its place is free again.
    let again = operator.call_raw("sessions.follow", json!({"session_id": other["session_id"]})).await;
    assert!(again.is_ok(), "{again:?}");
    operator.call_raw("sessions.stop", json!({"session_id": other["session_id"]})).await.unwrap();
}

#[tokio::test]
async fn a_relative_program_runs_from_the_session_directory_and_a_relative_cwd_is_refused() {
    let server = TestServer::start().await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let script = cwd.path().join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello from $(basename \"$PWD\")\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let record = spawn(&operator, json!({"task": "t", "command": ["./hello.sh"], "cwd": cwd.path()})).await;
    assert_eq!(record["argv"][0], script.to_str().unwrap(), "stored absolute");
    let id = record["session_id"].as_str().unwrap();
    assert_eq!(wait_for_state(&operator, id, "exited").await["exit_code"], 0);
    let relative = json!({"task": "t", "command": ["true"], "cwd": "some/dir"});
    let refused = operator.call_raw("sessions.spawn", relative).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32602));
    assert!(refused.to_string().contains("relative"), "{refused}");
}

#[tokio::test]
async fn a_removed_session_is_deleted_after_its_retention_and_an_exited_one_is_kept() {
    let sessions = tether_sessions::SessionsConfig { removed_retention_ms: 200, ..Default::default() };
    let server = TestServer::start_setup(Setup { sessions, ..Default::default() }, |_| {}).await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for task in ["removed", "kept"] {
        let record =
            spawn(&operator, json!({"task": task, "command": ["sh", "-c", "echo hi"], "cwd": cwd.path()})).await;
        let id = record["session_id"].as_str().unwrap().to_owned();
        wait_for_state(&operator, &id, "exited").await;
        ids.push(id);
    }
    let dir = |id: &str| server.data_dir.join("sessions").join(id);
    assert!(dir(&ids[0]).join("output.log").is_file() && dir(&ids[0]).join("session.json").is_file());
    operator.call_raw("sessions.remove", json!({"session_id": ids[0]})).await.unwrap();
    // Pruning deletes the directory, then forgets the record: wait for the second.
    let get_removed = json!({"session_id": ids[0]});
    wait_until("the removed session is forgotten", async || {
        operator.call_raw("sessions.get", get_removed.clone()).await.is_err()
    })
    .await;
    assert!(!dir(&ids[0]).exists(), "its directory is deleted before it is forgotten");
    let gone = operator.call_raw("sessions.get", get_removed).await.unwrap_err();
    assert!(gone.to_string().contains(&ids[0]), "{gone}");
    let listed = operator.call_raw("sessions.list", json!({})).await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // Exited but not removed: the operator may still read it, so retention leaves it.
    assert!(dir(&ids[1]).join("output.log").is_file());
    assert_eq!(get(&operator, &ids[1]).await["state"], "exited");
}

#[tokio::test]
async fn a_flooding_session_holds_at_most_its_log_bound_on_disk_and_its_newest_output_stays_readable() {
    use std::os::unix::fs::MetadataExt;
    let max: u64 = 1 << 20;
    let sessions = tether_sessions::SessionsConfig { max_log_bytes: max, ..Default::default() };
    let server = TestServer::start_setup(Setup { sessions, ..Default::default() }, |_| {}).await;
    let operator = server.connect().await;
    let cwd = tempfile::tempdir().unwrap();
    // 8 MiB in one burst, then a last line; one keeps running (bounded by the timer),
    // the other exits at once (bounded at its exit).
    let flood = "head -c 8388608 /dev/zero | tr '\\0' x; echo; echo last-line";
    let running = spawn(
        &operator,
        json!({"task": "flood", "command": ["sh", "-c", format!("{flood}; while read l; do :; done")], "cwd": cwd.path()}),
    )
    .await;
    let exiting = spawn(&operator, json!({"task": "flood", "command": ["sh", "-c", flood], "cwd": cwd.path()})).await;
    let log = |record: &Value| {
        server.data_dir.join("sessions").join(record["session_id"].as_str().unwrap()).join("output.log")
    };
    let held = |record: &Value| std::fs::metadata(log(record)).unwrap().blocks() * 512;
    let written = 8 * 1024 * 1024 + 1 + "last-line\n".len() as u64;
    wait_for_state(&operator, exiting["session_id"].as_str().unwrap(), "exited").await;
    assert!(held(&exiting) <= max, "{} bytes held after the exit", held(&exiting));
    for record in [&running, &exiting] {
        let id = record["session_id"].as_str().unwrap();
        wait_until("the log holds at most its bound", async || {
            std::fs::metadata(log(record)).unwrap().len() == written && held(record) <= max
        })
        .await;
        // Offsets keep their meaning: the end is where everything written ends, and a read
        // from 0 starts where the log still holds bytes, not at 0.
        let from_start =
            operator.call_raw("sessions.output", json!({"session_id": id, "since_offset": 0})).await.unwrap();
        let text = from_start["text"].as_str().unwrap();
        let start = from_start["next_offset"].as_u64().unwrap() - text.len() as u64;
        assert!(start >= written - max, "a read from 0 starts at {start}, inside the released head");
        assert!(text.starts_with('x') && !text.contains('\0'), "the oldest bytes still held, no punched zeros");
        let tail = operator.call_raw("sessions.output", json!({"session_id": id, "tail_lines": 1})).await.unwrap();
        assert_eq!(tail["text"], "last-line\n");
        assert_eq!(tail["next_offset"], written);
    }
}
