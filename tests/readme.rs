//! The README's own snippets, run as written against a daemon on a data directory
//! that is not the default one (`TETHER_HOME`): the Python session by hand and the
//! Claude Code command-hook settings.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The first ```lang block after the line that starts with `marker`.
fn block(marker: &str, lang: &str) -> String {
    let text = readme();
    let at = text.find(marker).unwrap_or_else(|| panic!("README has no {marker:?}"));
    let fence = format!("```{lang}\n");
    let start = at + text[at..].find(&fence).unwrap() + fence.len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_owned()
}

/// `PATH` with the built `tether` first, as `cargo install` would put it.
fn path_with_tether() -> String {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_tether")).parent().unwrap().to_owned();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn the_python_snippet_runs_as_written_with_a_non_default_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    // scripts/test sets this up; after it ran once, `cargo nextest run` finds the venv too.
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let default = if std::path::Path::new(venv).exists() { venv } else { "python3" };
    let python = std::env::var("TETHER_TEST_PYTHON").unwrap_or_else(|_| default.into());
    let output = Command::new(&python)
        .arg("-c")
        .arg(block("## A first session by hand", "python"))
        .env("TETHER_HOME", &daemon.data_dir)
        .env("TETHER_URL", &daemon.url)
        .env("PATH", path_with_tether())
        .env_remove("TETHER_TOKEN")
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (scripts/test sets up .venv with websockets)"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains("'ok': True"), "{stdout}");
    assert!(lines[1].contains("'protocol_version': 3"), "{stdout}");
    assert_eq!(lines[2], "{'jsonrpc': '2.0', 'result': 'pong', 'id': 2}");
}

#[test]
fn the_command_hook_settings_work_as_written_with_a_non_default_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let settings: Value = serde_json::from_str(&block("**Command hooks**", "json")).unwrap();
    let command = settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"].as_str().unwrap();
    assert_eq!(command, "tether hook");
    let mut hook = Command::new("sh")
        .args(["-c", command])
        .env("TETHER_HOME", &daemon.data_dir)
        .env("PATH", path_with_tether())
        .env_remove("TETHER_TOKEN")
        .env_remove("TETHER_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    hook.stdin.take().unwrap().write_all(fixture("PreToolUse").to_string().as_bytes()).unwrap();
    let output = hook.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "{}", "no policy, no decision");
    // It reached this daemon, in this data directory, as the operator.
    let audit = std::fs::read_to_string(daemon.data_dir.join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 1);
}

/// README's first screen: `examples/quickstart.py` is the block shown, it runs as written
/// against a daemon found the default way (`TETHER_HOME`'s socket and token), and the
/// commands after it trace its run by a prefix of the id and print a console login.
#[test]
fn the_quickstart_runs_as_written_and_the_commands_after_it_show_its_run() {
    let shown = block("## Quickstart", "python");
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.py")).unwrap();
    assert_eq!(shown, file, "README shows examples/quickstart.py as it is");

    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let python = std::env::var("TETHER_TEST_PYTHON").unwrap_or_else(|_| venv.into());
    let run = |program: &str, args: &[&str]| {
        let output = Command::new(program)
            .args(args)
            .env("TETHER_HOME", &daemon.data_dir)
            .env("PATH", path_with_tether())
            .env_remove("TETHER_URL")
            .env_remove("TETHER_TOKEN")
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test sets up .venv with the SDK)"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "{args:?}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let printed = run(&python, &[concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart.py")]);
    let words: Vec<&str> = printed.split_whitespace().collect();
    assert_eq!(words[..2], ["succeeded", "HELLO"], "{printed}");
    let run_id = words[2];
    assert_eq!(run_id.len(), 26, "{printed}");

    let tether = env!("CARGO_BIN_EXE_tether");
    let trace = run(tether, &["runs", "trace", "--follow", &run_id[..20]]);
    let lines: Vec<&str> = trace.lines().collect();
    assert!(lines[0].contains("started   say hello"), "{trace}");
    assert!(lines[1].contains("turn 0") && lines[1].contains("shout") && lines[1].contains("succeeded"), "{trace}");
    assert!(lines[2].trim_end().ends_with("ended     success"), "{trace}");
    assert!(run(tether, &["console"]).starts_with("http://127.0.0.1:"));
}
