//! `tether init`, then `tether serve` on what it wrote: the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{Value, json};
use tether_client::Client;

fn tether(home: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("TETHER_HOME", home.join("data"))
        .env_remove("TETHER_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "tether {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn init_writes_private_files_and_a_second_run_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let first = stdout(&tether(home.path(), &["init"]));
    let data = home.path().join("data");
    for file in ["config.toml", "policy.toml"] {
        assert!(first.contains(&format!("created {}", data.join(file).display())), "{first}");
        let mode = std::fs::metadata(data.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    let checked = tether(home.path(), &["policy", "check", data.join("policy.toml").to_str().unwrap()]);
    assert!(stdout(&checked).contains('3'), "the starter policy parses: {}", stdout(&checked));
    let before = std::fs::read(data.join("config.toml")).unwrap();
    let second = stdout(&tether(home.path(), &["init"]));
    assert!(!second.contains("created"), "{second}");
    assert_eq!(std::fs::read(data.join("config.toml")).unwrap(), before);
}

#[test]
fn init_claude_merges_into_existing_settings_and_keeps_their_keys() {
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(project.join(".claude")).unwrap();
    let mine = json!({
        "model": "opus",
        "permissions": {"allow": ["Bash(ls)"]},
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "my-linter"}]}]},
    });
    std::fs::write(project.join(".claude/settings.json"), mine.to_string()).unwrap();
    let out = stdout(&tether(home.path(), &["init", "--claude", project.to_str().unwrap()]));
    assert!(out.contains("updated") && out.contains("hooks.PreToolUse"), "{out}");
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(project.join(".claude/settings.json")).unwrap()).unwrap();
    assert_eq!(settings["model"], "opus");
    assert_eq!(settings["permissions"], mine["permissions"]);
    let pre = settings["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre[0], mine["hooks"]["PreToolUse"][0], "their own hook stays first");
    assert_eq!(pre[1]["hooks"][0]["command"], "tether hook");
    assert_eq!(pre[1]["hooks"][0]["timeout"], 330);
    assert_eq!(settings["hooks"]["Stop"][0]["hooks"][0]["command"], "tether hook");
    let mcp: Value = serde_json::from_str(&std::fs::read_to_string(project.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(mcp["mcpServers"]["tether"]["args"], json!(["mcp"]));

    let before = std::fs::read(project.join(".claude/settings.json")).unwrap();
    let again = stdout(&tether(home.path(), &["init", "--claude", project.to_str().unwrap()]));
    assert!(!again.contains("updated") && again.contains("unchanged"), "{again}");
    assert_eq!(std::fs::read(project.join(".claude/settings.json")).unwrap(), before);
}

/// `tether serve` with no `--config` reads `<data-dir>/config.toml`: the starter policy
/// is the one the daemon judges by.
#[tokio::test]
async fn serve_reads_the_config_init_wrote() {
    let home = tempfile::tempdir().unwrap();
    tether(home.path(), &["init"]);
    let daemon = Daemon::spawn(home.path(), &[]);
    let client = Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let check = json!({"tool_name": "Bash", "tool_input": {"command": "git push --force origin main"}});
    let verdict = client.call_raw("policy.check", check).await.unwrap();
    assert_eq!(verdict["decision"], "deny", "{verdict}");
    assert_eq!(verdict["rule"], "no-force-push");
    let rm = json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}});
    assert_eq!(client.call_raw("policy.check", rm).await.unwrap()["rule"], "no-recursive-delete");
    let ls = json!({"tool_name": "Bash", "tool_input": {"command": "ls -la"}});
    assert_eq!(client.call_raw("policy.check", ls).await.unwrap()["decision"], "none");
}

#[test]
fn every_subcommand_has_its_own_help() {
    let home = tempfile::tempdir().unwrap();
    for group in ["sessions", "approvals", "runs", "policy", "journal"] {
        let help = stdout(&tether(home.path(), &[group, "--help"]));
        assert!(!help.contains("connection and output options"), "{group}: {help}");
        let lines: Vec<&str> =
            help.lines().skip_while(|l| !l.starts_with("Commands:")).skip(1).take_while(|l| !l.is_empty()).collect();
        let descriptions: std::collections::BTreeSet<&str> =
            lines.iter().filter_map(|l| l.trim().split_once(' ').map(|(_, d)| d.trim())).collect();
        assert_eq!(descriptions.len(), lines.len(), "{group}: every subcommand says what it does: {help}");
    }
}
