//! `tether sessions …`.

use serde_json::{Value, json};
use tether_proto::events::Family;
use tether_proto::sessions;

use super::print::{self, Table};
use super::{Failure, Outcome, client};
use crate::cli::{Conn, SessionsCommand};

pub async fn run(command: SessionsCommand) -> Outcome {
    let command = resolved(command).await?;
    match command {
        SessionsCommand::Ls { watch, conn } => {
            let client = client(&conn).await?;
            if watch {
                let families = [Family::Status];
                return super::watch::watch(&client, &conn, &families, async || list(&client).await).await;
            }
            list(&client).await?.print(&conn);
            Ok(())
        }
        SessionsCommand::Show { id, conn } => {
            let record = client(&conn).await?.call_raw("sessions.get", json!({"session_id": id})).await?;
            print::one(&conn, &record, describe);
            Ok(())
        }
        SessionsCommand::Logs { id, follow, conn } => logs(&conn, &id, follow).await,
        SessionsCommand::Send { id, text, conn } => {
            let sent = client(&conn).await?.call_raw("sessions.send", json!({"session_id": id, "text": text})).await?;
            print::one(&conn, &sent, |s| format!("sent {} bytes", s["bytes"]));
            Ok(())
        }
        SessionsCommand::Stop { id, conn } => change(&conn, "sessions.stop", json!({"session_id": id})).await,
        SessionsCommand::Resume { id, conn } => change(&conn, "sessions.resume", json!({"session_id": id})).await,
        SessionsCommand::Rm { id, delete_workspace, conn } => {
            change(&conn, "sessions.remove", json!({"session_id": id, "delete_workspace": delete_workspace})).await
        }
        SessionsCommand::Spawn { name, cwd, task, runtime, repo, git_ref, command, conn } => {
            use crate::cli::SpawnRuntime;
            let (runtime, command, task) = match (runtime, command.is_empty(), task) {
                (SpawnRuntime::Command, true, _) => {
                    return Err(Failure::Usage("the command runtime needs a command: `-- CMD [ARGS]...`".into()));
                }
                (SpawnRuntime::Command, false, task) => {
                    let task = task.unwrap_or_else(|| command.join(" "));
                    ("command", Some(command), task)
                }
                // Its argv comes from [sessions.claude_code]; the words after `--` are the prompt.
                (SpawnRuntime::ClaudeCode, true, Some(task)) => ("claude-code", None, task),
                (SpawnRuntime::ClaudeCode, false, None) => ("claude-code", None, command.join(" ")),
                (SpawnRuntime::ClaudeCode, true, None) => {
                    return Err(Failure::Usage(
                        "--runtime claude-code needs a prompt: `-- PROMPT...` or --task (what Claude Code is to do)"
                            .into(),
                    ));
                }
                (SpawnRuntime::ClaudeCode, false, Some(_)) => {
                    return Err(Failure::Usage(
                        "--runtime claude-code takes its prompt once: after `--` or as --task, not both".into(),
                    ));
                }
            };
            let mut params = json!({"task": task, "runtime": runtime, "command": command, "name": name});
            match repo {
                Some(url) => params["repo"] = json!({"url": url, "ref": git_ref}),
                None => {
                    let cwd = match cwd {
                        Some(dir) => dir,
                        None => std::env::current_dir().map_err(|e| Failure::Usage(e.to_string()))?,
                    };
                    // Stored absolute: the daemon's working directory is not the caller's.
                    let cwd =
                        std::path::absolute(&cwd).map_err(|e| Failure::Usage(format!("{}: {e}", cwd.display())))?;
                    params["cwd"] = json!(cwd);
                }
            }
            change(&conn, "sessions.spawn", params).await
        }
    }
}

/// `sessions ls`.
async fn list(client: &tether_client::Client) -> Result<Table, Failure> {
    let list = client.call_raw("sessions.list", json!({})).await?;
    let mut table = Table::new(&["SESSION", "NAME", "STATE", "PID", "CONFINED", "WORKSPACE"]);
    for s in list.as_array().into_iter().flatten() {
        table.row(s, [&s["session_id"], &s["name"], &s["state"], &s["pid"], &s["confined"], &s["workspace"]]);
    }
    Ok(table)
}

/// The command with its session named by id (from a prefix or a name).
async fn resolved(mut command: SessionsCommand) -> Result<SessionsCommand, Failure> {
    use SessionsCommand::*;
    if let Show { id, conn }
    | Logs { id, conn, .. }
    | Send { id, conn, .. }
    | Stop { id, conn }
    | Resume { id, conn }
    | Rm { id, conn, .. } = &mut command
    {
        *id = super::ids::session(&client(conn).await?, id).await?;
    }
    Ok(command)
}

async fn change(conn: &Conn, method: &str, params: Value) -> Outcome {
    let record = client(conn).await?.call_raw(method, params).await?;
    print::one(conn, &record, |r| {
        format!("{} {} {}", print::text(&r["session_id"]), print::text(&r["name"]), print::text(&r["state"]))
    });
    Ok(())
}

fn describe(r: &Value) -> String {
    let mut lines = vec![
        format!("session {}  {}  {}", print::text(&r["session_id"]), print::text(&r["name"]), print::text(&r["state"])),
        format!(
            "argv:      {}",
            r["argv"].as_array().map_or(String::new(), |a| a.iter().map(print::text).collect::<Vec<_>>().join(" "))
        ),
        format!("workspace: {}", print::text(&r["workspace"])),
        format!(
            "pid {}  exit code {}  confined {}",
            print::text(&r["pid"]),
            print::text(&r["exit_code"]),
            print::text(&r["confined"])
        ),
    ];
    if let Some(error) = r["error"].as_str() {
        lines.push(format!("error: {error}"));
    }
    for run in r["runs"].as_array().into_iter().flatten() {
        lines.push(format!(
            "run {}  {}  {} turns",
            print::text(&run["run_id"]),
            print::text(&run["status"]),
            run["turn_count"]
        ));
    }
    lines.join("\n")
}

/// The output so far; with `follow`, what the process writes next, streamed by
/// `sessions.follow` until it stops running.
async fn logs(conn: &Conn, id: &str, follow: bool) -> Outcome {
    let client = client(conn).await?;
    let out = client.call_raw("sessions.output", json!({"session_id": id, "since_offset": 0})).await?;
    show(conn, 0, out["text"].as_str().unwrap_or_default());
    if !follow {
        return Ok(());
    }
    let params = json!({"session_id": id, "since_offset": out["next_offset"]});
    client.call_raw("sessions.follow", params).await?;
    while let Some(note) = client.next_notification().await {
        if note.params["session_id"] != id {
            continue;
        }
        match note.method.as_str() {
            sessions::OUTPUT_EVENT => show(
                conn,
                note.params["offset"].as_u64().unwrap_or(0),
                note.params["text"].as_str().unwrap_or_default(),
            ),
            sessions::OUTPUT_END => return Ok(()),
            _ => {}
        }
    }
    Err(Failure::Usage("the daemon closed the connection".into()))
}

fn show(conn: &Conn, offset: u64, text: &str) {
    use std::io::Write;
    if text.is_empty() {
        return;
    }
    if conn.json() {
        println!("{}", json!({"offset": offset, "text": text}));
    } else {
        print!("{text}");
        let _ = std::io::stdout().flush();
    }
}
