//! `tether runs ls | show | trace` (`fork` and `diff` are in `history.rs`).

use serde_json::{Value, json};
use tether_client::Client;
use tether_proto::events::Family;

use super::print::{self, Table};
use super::{Failure, Outcome, client};
use crate::cli::{Conn, RunsCommand};

pub async fn run(command: RunsCommand) -> Outcome {
    match command {
        RunsCommand::Ls { agent, status, session, limit, watch, conn } => {
            let client = client(&conn).await?;
            let params = json!({"agent_id": agent, "status": status, "session_id": session, "limit": limit});
            if watch {
                let families = [Family::Status];
                return super::watch::watch(&client, &conn, &families, async || list(&client, &params).await).await;
            }
            list(&client, &params).await?.print(&conn);
            Ok(())
        }
        RunsCommand::Fork { run, turns, intent, conn } => super::history::fork(run, turns, intent, conn).await,
        RunsCommand::Diff { a, b, conn } => super::history::diff(a, b, conn).await,
        RunsCommand::Show { run, conn } => {
            let client = client(&conn).await?;
            let run = super::ids::run(&client, &run).await?;
            let records = trace(&client, &run).await?;
            let detail = client.call_raw("runs.get", json!({"run_id": run})).await?;
            let ended = records.iter().find(|r| r["record"] == "ended");
            let started = records.first().filter(|r| r["record"] == "started");
            let summary = json!({
                "run_id": run,
                "agent_id": started.map(|s| s["agent_id"].clone()),
                "intent": started.map(|s| s["intent"].clone()),
                "turns": records.iter().filter(|r| r["record"] == "turn").count(),
                "ended": ended.is_some(),
                "status": detail["status"],
                "forked_from": detail["forked_from"],
                "replay_of": detail["replay_of"],
                "usage": detail["usage"],
                "budget": detail["budget"],
                "budget_exceeded": detail["budget_exceeded"],
            });
            print::one(&conn, &summary, |s| {
                let mut text = format!(
                    "run {}  agent {}  {} turns  {}\nintent: {}",
                    print::text(&s["run_id"]),
                    print::text(&s["agent_id"]),
                    s["turns"],
                    if ended.is_some() { "ended" } else { "in progress" },
                    print::text(&s["intent"])
                );
                text.push_str(&super::history::origin_and_budget(s));
                text
            });
            records.iter().for_each(|r| print::record(&conn, r));
            Ok(())
        }
        RunsCommand::Trace { run, follow: false, conn } => {
            let client = client(&conn).await?;
            let run = super::ids::run(&client, &run).await?;
            trace(&client, &run).await?.iter().for_each(|r| print::record(&conn, r));
            Ok(())
        }
        RunsCommand::Trace { run, follow: true, conn } => {
            let run = super::ids::run(&client(&conn).await?, &run).await?;
            follow(&conn, &run).await
        }
    }
}

/// Every record, oldest first (the legacy form: no limit).
async fn trace(client: &Client, run: &str) -> Result<Vec<Value>, Failure> {
    let page = client.call_raw("runs.get_trace", json!({"run_id": run})).await?;
    if page["not_found"] == true {
        return Err(Failure::Refused(format!("no run {run} (unknown, or not yours)")));
    }
    Ok(page["records"].as_array().cloned().unwrap_or_default())
}

/// The history by page, then a subscription from where it ended (its snapshot holds
/// what came since), then each new record as it is journalled, until the run ends: the
/// cursors guarantee no gap and no duplicate, and no reply is larger than a page.
async fn follow(conn: &Conn, run: &str) -> Outcome {
    let client = client(conn).await?;
    let mut cursor = 0;
    loop {
        let page = client.call_raw("runs.get_trace", json!({"run_id": run, "cursor": cursor, "limit": 500})).await?;
        if page["not_found"] == true {
            return Err(Failure::Refused(format!("no run {run} (unknown, or not yours)")));
        }
        for record in page["records"].as_array().into_iter().flatten() {
            print::record(conn, record);
            cursor += 1;
        }
        if page["next_cursor"].is_null() {
            break;
        }
    }
    let subscribed = client.call_raw("runs.subscribe", json!({"run_id": run, "from_cursor": cursor})).await?;
    for record in subscribed["snapshot"].as_array().into_iter().flatten() {
        print::record(conn, record);
    }
    if subscribed["status"] != "in_progress" {
        return Ok(());
    }
    while let Some(note) = client.next_notification().await {
        match note.method.as_str() {
            tether_proto::runs::TRACE_EVENT if note.params["run_id"] == run => {
                print::record(conn, &note.params["record"]);
                if note.params["record"]["record"] == "ended" {
                    return Ok(());
                }
            }
            tether_proto::runs::TRACE_LAGGED => {
                return Err(Failure::Usage("fell behind the run's records; run the command again".into()));
            }
            _ => {}
        }
    }
    Err(Failure::Usage("the daemon closed the connection before the run ended".into()))
}

/// `runs ls`: one page of `runs.list`, newest first.
async fn list(client: &Client, params: &Value) -> Result<Table, Failure> {
    let page = client.call_raw("runs.list", params.clone()).await?;
    let mut table = Table::new(&["RUN", "AGENT", "STATUS", "TURNS", "STARTED", "ENDED", "INTENT"]);
    for r in page["runs"].as_array().into_iter().flatten() {
        let intent = Value::String(r["intent"].as_str().unwrap_or_default().chars().take(48).collect());
        table.row(
            r,
            [&r["run_id"], &r["agent_id"], &r["status"], &r["turn_count"], &r["started_at"], &r["ended_at"], &intent],
        );
    }
    Ok(table)
}
