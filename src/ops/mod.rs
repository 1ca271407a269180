//! The operator's subcommands: each turns flags into one or a few RPCs and prints
//! the answer as a table for people or, with `--json`, one JSON object per line.
//! Exit codes: 0 ok, 1 the daemon said no (its message on stderr), 2 a usage or
//! connection problem.

mod history;
mod ids;
mod journal;
mod print;
mod runs;
mod sessions;
mod watch;

use std::process::ExitCode;

use serde_json::{Value, json};
use tether_client::{Client, ClientError};
use tether_proto::events::Family;

use crate::cli::{ApprovalsCommand, Command, Conn, EventsCommand, OverseersCommand, PolicyCommand, TokenArgs};
use crate::connect;
use print::Table;

/// Why a command failed, and so its exit code.
pub enum Failure {
    /// The daemon answered with an error (exit 1).
    Refused(String),
    /// Bad usage, or the daemon could not be reached (exit 2).
    Usage(String),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Rpc(e) => Failure::Refused(e.message),
            other => Failure::Usage(other.to_string()),
        }
    }
}

pub type Outcome = Result<(), Failure>;

/// Runs an operator subcommand to its exit code.
pub fn run(command: Command) -> ExitCode {
    let json = command.conn().is_some_and(Conn::json);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(Failure::Usage(e.to_string()), json),
    };
    let outcome = runtime.block_on(async {
        match command {
            Command::Status(conn) => status(&conn).await,
            Command::Runs(command) => runs::run(command).await,
            Command::Events(args) => match args.command {
                EventsCommand::Tail { families, run, session, count, no_follow, conn } => {
                    events_tail(&conn, families, run, session, count, !no_follow).await
                }
            },
            Command::Sessions(command) => sessions::run(command).await,
            Command::Approvals(command) => approvals(command).await,
            Command::Policy(PolicyCommand::Check { file, json }) => policy_check(&file, json),
            Command::Policy(PolicyCommand::Reload { conn }) => {
                let client = client(&conn).await?;
                let info = client.call_raw("policy.reload", json!({})).await?;
                print::one(&conn, &info, |v| format!("reloaded: {} rules", v["rules"].as_array().map_or(0, Vec::len)));
                Ok(())
            }
            Command::Overseers(OverseersCommand::Ls { conn }) => overseers(&conn).await,
            Command::Journal(command) => journal::run(command),
            Command::Audit { session, limit, conn } => audit(&conn, session, limit).await,
            Command::Token(args) => token(&args),
            Command::Openrpc => openrpc().await,
            Command::Console(args) => console(&args).await,
            Command::Serve(_) | Command::Hook(_) | Command::Mcp(_) | Command::Init(_) | Command::Completions { .. } => {
                unreachable!("handled by main")
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(failure, json),
    }
}

/// `tether runs ls | head -1`: a reader that went away ends the output, not in an error.
/// (Rust ignores SIGPIPE, so printing to a closed pipe panics; that panic exits 0.)
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or(payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.contains("Broken pipe")) {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// The error on stderr: a sentence, or with `--json` one line `{"error", "exit"}`.
fn fail(failure: Failure, json: bool) -> ExitCode {
    let (why, code) = match failure {
        Failure::Refused(why) => (why, 1),
        Failure::Usage(why) => (why, 2),
    };
    if json {
        eprintln!("{}", json!({"error": why, "exit": code}));
    } else {
        eprintln!("tether: {why}");
    }
    ExitCode::from(code)
}

async fn client(conn: &Conn) -> Result<Client, Failure> {
    connect::connect(&conn.target).await.map_err(Failure::Usage)
}

/// `GET /healthz` on the same transport the commands use (the daemon serves plain
/// HTTP on the Unix socket too), after proving the WebSocket side answers.
async fn status(conn: &Conn) -> Outcome {
    let client = match client(conn).await {
        Ok(client) => client,
        // A monitor reading `--json` gets a line either way.
        Err(Failure::Usage(why)) if conn.json() => {
            let line = json!({"reachable": false, "endpoint": connect::describe(&conn.target), "error": why});
            println!("{line}");
            return Err(Failure::Usage(why));
        }
        Err(other) => return Err(other),
    };
    let version = client.handshake().map(|h| h.server_version.clone()).unwrap_or_default();
    client.close();
    let health = connect::healthz(&conn.target).await.map_err(Failure::Usage)?;
    let line = json!({
        "reachable": true,
        "version": version,
        "status": health["status"],
        "uptime_s": health["uptime_s"],
        "connections": health["connections"],
        "unauthenticated": health["unauthenticated"],
        "problems": health["problems"],
        "store": health["store"],
    });
    print::one(conn, &line, |v| {
        let mut text = format!(
            "tether {} — {}, up {} s, {} connections ({} authenticating)",
            v["version"].as_str().unwrap_or("?"),
            v["status"].as_str().unwrap_or("?"),
            v["uptime_s"],
            v["connections"],
            v["unauthenticated"]
        );
        let store = &v["store"];
        if let Some(node) = store["node"].as_str() {
            text.push_str(&format!(
                "\nstore: {}, node {node}, lease until {} (renewed {} ms ago)",
                store["kind"].as_str().unwrap_or("?"),
                store["lease_until"].as_str().unwrap_or("?"),
                store["lease_renewed_ms_ago"]
            ));
        } else if let Some(kind) = store["kind"].as_str() {
            text.push_str(&format!("\nstore: {kind}"));
        }
        for problem in v["problems"].as_array().into_iter().flatten() {
            text.push_str(&format!("\nproblem: {}", problem.as_str().unwrap_or_default()));
        }
        text
    });
    if health["status"] == "ok" { Ok(()) } else { Err(Failure::Refused("the daemon is degraded".into())) }
}

/// The last `count` events (oldest first), then, when `follow`, new ones as they happen.
async fn events_tail(
    conn: &Conn,
    families: Vec<String>,
    run: Option<String>,
    session: Option<String>,
    count: u64,
    follow: bool,
) -> Outcome {
    let client = client(conn).await?;
    let families = (!families.is_empty()).then_some(families);
    // Subscribe first, then read what came before: an event in both is printed once,
    // so only the recent ones' ids are kept (a bounded set, not every id ever seen).
    if follow {
        let filter = json!({"families": families, "run_id": run, "session_id": session});
        client.call_raw("events.subscribe", filter).await?;
    }
    let mut recent = std::collections::HashSet::new();
    if count > 0 {
        let params = json!({"limit": count, "families": families, "run_id": run, "session_id": session});
        for event in client.call_raw("events.recent", params).await?.as_array().into_iter().flatten() {
            recent.insert(event["event_id"].as_str().unwrap_or_default().to_owned());
            print::event(conn, event);
        }
    }
    if !follow {
        return Ok(());
    }
    while let Some(note) = client.next_notification().await {
        let event = &note.params["event"];
        if note.method == tether_proto::events::EVENT
            && !recent.contains(event["event_id"].as_str().unwrap_or_default())
        {
            print::event(conn, event);
        }
    }
    Err(Failure::Usage("the daemon closed the connection".into()))
}

/// How much of an approval's tool input `approvals ls` shows in its table.
const INPUT_CHARS: usize = 60;

async fn approvals(command: ApprovalsCommand) -> Outcome {
    match command {
        ApprovalsCommand::Ls { all, watch, conn } => {
            let client = client(&conn).await?;
            if watch {
                let families = [Family::ApprovalRequired];
                return watch::watch(&client, &conn, &families, async || approvals_table(&client, all).await).await;
            }
            approvals_table(&client, all).await?.print(&conn);
            Ok(())
        }
        ApprovalsCommand::Approve { id, reason, raise, conn } => resolve(&conn, &id, "allow", reason, raise).await,
        ApprovalsCommand::Deny { id, reason, conn } => resolve(&conn, &id, "deny", reason, None).await,
    }
}

/// `approvals ls`: WAITING says whether an answer still reaches a hook; INPUT is a short
/// form of the tool input (`--json` has it whole, as the daemon keeps it).
async fn approvals_table(client: &Client, all: bool) -> Result<Table, Failure> {
    let state = if all { Value::Null } else { json!("pending") };
    let list = client.call_raw("approvals.list", json!({"state": state})).await?;
    let mut table = Table::new(&[
        "APPROVAL",
        "STATE",
        "WAITING",
        "RULE",
        "FLAGGED BY",
        "SESSION",
        "AGENT",
        "TOOL",
        "INPUT",
        "EXPIRES",
    ]);
    for a in list.as_array().into_iter().flatten() {
        let input = match &a["input"] {
            Value::Null => Value::Null,
            Value::String(s) => json!(tether_core::excerpt(&s.replace('\n', " "), INPUT_CHARS)),
            other => json!(tether_core::excerpt(&other.to_string(), INPUT_CHARS)),
        };
        let waiting = json!(if a["waiting"] == true { "yes" } else { "no" });
        table.row(
            a,
            [
                &a["approval_id"],
                &a["state"],
                &waiting,
                &a["rule"],
                &a["flagged_by"],
                &a["session_id"],
                &a["agent_id"],
                &a["tool"],
                &input,
                &a["expires_at"],
            ],
        );
    }
    Ok(table)
}

/// `tether overseers ls`.
async fn overseers(conn: &Conn) -> Outcome {
    let client = client(conn).await?;
    let list = client.call_raw("overseers.list", json!({})).await?;
    let mut table = Table::new(&[
        "NAME", "PRIORITY", "EVENTS", "TOOLS", "REVIEWS", "ALLOW", "DENY", "ASK", "NONE", "FAILED", "P50 MS", "P99 MS",
    ]);
    for o in list.as_array().into_iter().flatten() {
        let globs =
            |v: &Value| json!(v.as_array().into_iter().flatten().map(print::text).collect::<Vec<_>>().join(","));
        let ms = |v: &Value| v.as_f64().map_or(Value::Null, |ms| json!(format!("{ms:.1}")));
        let (events, tools) = (globs(&o["events"]), globs(&o["tools"]));
        let (p50, p99) = (ms(&o["latency_p50_ms"]), ms(&o["latency_p99_ms"]));
        table.row(
            o,
            [
                &o["name"],
                &o["priority"],
                &events,
                &tools,
                &o["reviews"],
                &o["allowed"],
                &o["denied"],
                &o["asked"],
                &o["abstained"],
                &o["failed"],
                &p50,
                &p99,
            ],
        );
    }
    table.print(conn);
    Ok(())
}

async fn resolve(conn: &Conn, id: &str, decision: &str, reason: Option<String>, raise: Option<f64>) -> Outcome {
    let client = client(conn).await?;
    let params = json!({"approval_id": id, "decision": decision, "reason": reason, "raise": raise});
    let approval = client.call_raw("approvals.resolve", params).await?;
    print::one(conn, &approval, |a| {
        format!("{} {}", a["approval_id"].as_str().unwrap_or_default(), print::text(&a["state"]))
    });
    Ok(())
}

async fn audit(conn: &Conn, session: Option<String>, limit: u64) -> Outcome {
    let client = client(conn).await?;
    let entries = client.call_raw("audit.recent", json!({"session_id": session, "limit": limit})).await?;
    let mut table = Table::new(&["TIME", "SESSION", "AGENT", "EVENT", "TOOL", "DECISION", "RULE"]);
    for e in entries.as_array().into_iter().flatten() {
        table.row(e, [&e["ts"], &e["session_id"], &e["agent_id"], &e["event"], &e["tool"], &e["decision"], &e["rule"]]);
    }
    table.print(conn);
    Ok(())
}

fn policy_check(file: &std::path::Path, json: bool) -> Outcome {
    let max = tether_hooks::HooksConfig::default().max_policy_bytes;
    let checked = tether_hooks::read_policy_file(file, max)
        .map_err(Failure::Usage)
        .and_then(|text| tether_hooks::check_policy(&text).map_err(Failure::Refused));
    let name = file.display().to_string();
    if json {
        let line = match &checked {
            Ok(rules) => json!({"file": name, "ok": true, "rules": rules}),
            Err(Failure::Usage(why) | Failure::Refused(why)) => json!({"file": name, "ok": false, "error": why}),
        };
        println!("{line}");
    }
    match checked {
        Ok(rules) if !json => {
            println!("{name}: {rules} rules, ok");
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(Failure::Usage(why)) => Err(Failure::Usage(format!("{name}: {why}"))),
        Err(Failure::Refused(why)) => Err(Failure::Refused(format!("{name}: {why}"))),
    }
}

/// A login URL for the web console: the code rides in the fragment, which browsers
/// never send to a server; it works once, within `console.code_ttl_ms`.
/// `--list`, `--revoke` and `--revoke-all` manage the console sessions instead.
async fn console(args: &crate::cli::ConsoleArgs) -> Outcome {
    let client = client(&args.conn).await?;
    if args.list {
        let list = client.call_raw("console.sessions", json!({})).await?;
        let mut table = print::Table::new(&["SESSION", "CREATED", "EXPIRES", "READ_ONLY"]);
        for s in list["sessions"].as_array().into_iter().flatten() {
            table.row(s, [&s["session_id"], &s["created_at"], &s["expires_at"], &s["read_only"]]);
        }
        table.print(&args.conn);
        return Ok(());
    }
    if args.revoke.is_some() || args.revoke_all {
        let params = match &args.revoke {
            Some(id) => json!({ "session_id": id }),
            None => json!({ "all": true }),
        };
        let revoked = client.call_raw("console.revoke", params).await?;
        print::one(&args.conn, &revoked, |r| format!("{} console session(s) ended", r["revoked"]));
        if args.revoke.is_some() && revoked["revoked"] == 0 {
            return Err(Failure::Refused("no console session has that id (see --list)".into()));
        }
        return Ok(());
    }
    let login = client.call_raw("console.login", json!({ "read_only": args.read_only })).await?;
    let url = login["url"].as_str().unwrap_or_default().to_owned();
    print::one(&args.conn, &login, |_| url.clone());
    if args.open {
        let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
            eprintln!("tether: cannot run {opener} ({e}); open the URL above by hand");
        }
    }
    Ok(())
}

/// The same document a daemon's `rpc.discover` answers: the domains are assembled on
/// a scratch data directory (removed after), so nothing of the user's is touched.
async fn openrpc() -> Outcome {
    let scratch = std::env::temp_dir().join(format!("tether-openrpc-{}-{}", std::process::id(), ulid::Ulid::new()));
    let assembled =
        tether::registry(&scratch, &tether::Domains::default(), std::sync::Arc::new(tether_store::RealFsync))
            .await
            .map(|registry| registry.openrpc());
    let _ = std::fs::remove_dir_all(&scratch);
    let document = assembled.map_err(Failure::Usage)?;
    println!("{}", serde_json::to_string_pretty(&document).expect("a JSON value"));
    Ok(())
}

fn token(args: &TokenArgs) -> Outcome {
    if args.show {
        println!("{}", connect::token(&args.conn.target).map_err(Failure::Usage)?);
    } else {
        let path = connect::token_path(&args.conn.target).ok_or(Failure::Usage("no data directory".into()))?;
        println!("{}", path.display());
    }
    Ok(())
}
