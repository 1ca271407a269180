//! Ids as people type them: a run or session by a unique prefix of its id (as git takes
//! commits), a session by its name. What matches nothing is passed on as typed, so the
//! daemon's own "not found" answers it.

use serde_json::{Value, json};
use tether_client::Client;

use super::Failure;

/// A ULID's length: an id this long is taken as typed.
const FULL: usize = 26;
/// How many of the newest runs a prefix is looked for in.
const RUN_PAGES: usize = 10;

pub async fn session(client: &Client, typed: &str) -> Result<String, Failure> {
    if typed.len() == FULL {
        return Ok(typed.to_owned());
    }
    let list = client.call_raw("sessions.list", json!({})).await?;
    let all = list.as_array().cloned().unwrap_or_default();
    if let Some(named) = all.iter().find(|s| s["name"] == typed) {
        return Ok(id_of(named, "session_id"));
    }
    unique("session", typed, all.iter().map(|s| id_of(s, "session_id")))
}

pub async fn run(client: &Client, typed: &str) -> Result<String, Failure> {
    if typed.len() == FULL {
        return Ok(typed.to_owned());
    }
    let mut ids = Vec::new();
    let mut cursor: Option<Value> = None;
    for _ in 0..RUN_PAGES {
        let page = client.call_raw("runs.list", json!({"limit": 200, "cursor": cursor})).await?;
        ids.extend(page["runs"].as_array().into_iter().flatten().map(|r| id_of(r, "run_id")));
        match page.get("next_cursor") {
            Some(next) if !next.is_null() => cursor = Some(next.clone()),
            _ => break,
        }
    }
    unique("run", typed, ids.into_iter())
}

fn id_of(record: &Value, key: &str) -> String {
    record[key].as_str().unwrap_or_default().to_owned()
}

fn unique(what: &str, typed: &str, ids: impl Iterator<Item = String>) -> Result<String, Failure> {
    let upper = typed.to_ascii_uppercase();
    let matching: Vec<String> = ids.filter(|id| !typed.is_empty() && id.starts_with(&upper)).collect();
    match matching.as_slice() {
        [] => Ok(typed.to_owned()),
        [one] => Ok(one.clone()),
        many => Err(Failure::Usage(format!(
            "{} {what}s start with {typed:?} ({}); type more of the id",
            many.len(),
            many.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}
