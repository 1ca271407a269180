//! `--watch`: a list printed again whenever the events it depends on say it changed.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use serde_json::json;
use tether_client::Client;
use tether_proto::events::Family;

use super::print::Table;
use super::{Failure, Outcome};
use crate::cli::Conn;

/// Events closer together than this are one change: a run's start and its first
/// turn repaint once, not twice.
const SETTLE: Duration = Duration::from_millis(50);

/// Prints `list()` once, then again after each burst of `families` events, until the
/// daemon goes away. Tables repaint (clearing a terminal first); JSON lines print only
/// the rows that are new or changed since the last print, as `kubectl get -w` does.
pub async fn watch(
    client: &Client,
    conn: &Conn,
    families: &[Family],
    mut list: impl AsyncFnMut() -> Result<Table, Failure>,
) -> Outcome {
    let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    // Subscribed before the first list, so no change falls between the two.
    client.call_raw("events.subscribe", json!({ "families": names })).await?;
    let clear = !conn.json() && std::io::stdout().is_terminal();
    let mut printed = HashMap::new();
    loop {
        let table = list().await?;
        if clear {
            print!("\x1b[2J\x1b[H");
        }
        if conn.json() {
            table.print_changes(&mut printed);
        } else {
            table.print(conn);
        }
        if client.next_notification().await.is_none() {
            return Err(Failure::Usage("the daemon closed the connection".into()));
        }
        while let Ok(note) = tokio::time::timeout(SETTLE, client.next_notification()).await {
            if note.is_none() {
                return Err(Failure::Usage("the daemon closed the connection".into()));
            }
        }
    }
}
