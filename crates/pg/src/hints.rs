//! Wake-up hints across nodes: LISTEN/NOTIFY carries only "run X has new
//! records"; followers read the records back from the tables, and poll anyway
//! (a hint can be lost: a listener reconnecting, a node dying between its
//! commit and its notify). Hints are sent after the commit, by a task of their
//! own on a connection of their own, never inside the commit's transaction
//! (which would serialise every commit behind the notify queue's lock).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::poll_fn;
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};
use tokio_postgres::AsyncMessage;

use crate::tls::Database;
use ulid::Ulid;

const CHANNEL: &str = "tether_records";
/// NOTIFY payloads must stay under 8,000 bytes.
const MAX_PAYLOAD: usize = 7_900;
/// Hints wait this long to share one NOTIFY (followers poll anyway, so this is
/// latency only, and it keeps a NOTIFY per commit off a busy node's database).
const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs written since the last NOTIFY, each with the fence it was written
/// under (the latest), coalesced.
#[derive(Default)]
pub(crate) struct Outbox {
    runs: Mutex<BTreeMap<Ulid, i64>>,
    ready: Notify,
}

impl Outbox {
    pub(crate) fn push(&self, runs: impl IntoIterator<Item = (Ulid, i64)>) {
        let mut all = self.runs.lock();
        for (run, fence) in runs {
            let at = all.entry(run).or_insert(fence);
            *at = (*at).max(fence);
        }
        drop(all);
        self.ready.notify_one();
    }
}

/// Sends what the outbox holds, one NOTIFY per ~7.9 KB of run ids.
/// Each payload is `<writer node>:<run>,<run>,…`, so a node learns at once that
/// another one wrote a run it thought it held.
pub(crate) fn spawn_notifier(config: Database, node: crate::NodeId, outbox: Arc<Outbox>) {
    tokio::spawn(async move {
        let mut client = None;
        loop {
            outbox.ready.notified().await;
            tokio::time::sleep(GATHER).await;
            let runs = std::mem::take(&mut *outbox.runs.lock());
            if runs.is_empty() {
                continue;
            }
            if client.as_ref().is_none_or(|c: &tokio_postgres::Client| c.is_closed()) {
                client = crate::batch::connect(&config).await.ok();
            }
            let Some(c) = &client else { continue };
            let from = node.get();
            for payload in payloads(&runs).into_iter().map(|runs| format!("{from}:{runs}")) {
                if let Err(error) = c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await {
                    tracing::debug!(%error, "a hint was not sent (followers poll anyway)");
                    break;
                }
            }
        }
    });
}

/// `run.fence,run.fence,…` in pieces that leave room for the writer's id ahead.
fn payloads(runs: &BTreeMap<Ulid, i64>) -> Vec<String> {
    let mut out = vec![String::new()];
    for (run, fence) in runs {
        let entry = format!("{run}.{fence}");
        let last = out.last_mut().expect("never empty");
        if last.len() + entry.len() + 1 + 27 > MAX_PAYLOAD {
            out.push(String::new());
        }
        let last = out.last_mut().expect("never empty");
        if !last.is_empty() {
            last.push(',');
        }
        last.push_str(&entry);
    }
    out
}

/// LISTENs on its own connection (reconnecting) and broadcasts each hinted run,
/// until the store that owns the channel is gone.
/// Told of every run a node (by its id) wrote, with the fence it wrote under.
pub(crate) type Foreign = Arc<dyn Fn(&str, Ulid, i64) + Send + Sync>;

pub(crate) fn spawn_listener(
    config: Database,
    hints: broadcast::WeakSender<Ulid>,
    events: broadcast::WeakSender<()>,
    foreign: Foreign,
) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = listen(&config, &hints, &events, &foreign).await {
                tracing::debug!(%error, "hint listener lost its connection; reconnecting");
            }
            if hints.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

async fn listen(
    config: &Database,
    hints: &broadcast::WeakSender<Ulid>,
    events: &broadcast::WeakSender<()>,
    foreign: &Foreign,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect().await?;
    let sql = format!("LISTEN {CHANNEL}; LISTEN {}", crate::events::CHANNEL);
    let mut listening = std::pin::pin!(client.batch_execute(&sql));
    let mut listened = false;
    loop {
        let message = if listened {
            poll_fn(|cx| connection.poll_message(cx)).await
        } else {
            tokio::select! {
                done = &mut listening => { done?; listened = true; continue; }
                message = poll_fn(|cx| connection.poll_message(cx)) => message,
            }
        };
        match message {
            Some(Ok(AsyncMessage::Notification(note))) if note.channel() == crate::events::CHANNEL => {
                if let Some(events) = events.upgrade() {
                    let _ = events.send(());
                }
            }
            Some(Ok(AsyncMessage::Notification(note))) => {
                let Some(hints) = hints.upgrade() else { return Ok(()) };
                let (from, runs) = note.payload().split_once(':').unwrap_or(("", note.payload()));
                for entry in runs.split(',') {
                    let (id, fence) = entry.split_once('.').unwrap_or((entry, "0"));
                    let Ok(run) = Ulid::from_string(id) else { continue };
                    foreign(from, run, fence.parse().unwrap_or(0));
                    let _ = hints.send(run);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_postgres_limit_and_keep_every_run() {
        let runs: BTreeMap<Ulid, i64> = (0..1_000).map(|i| (Ulid::new(), i)).collect();
        let payloads = payloads(&runs);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() + 27 < 8_000), "with the writer's id ahead");
        let back: BTreeMap<Ulid, i64> = payloads
            .iter()
            .flat_map(|p| p.split(','))
            .map(|e| e.split_once('.').unwrap())
            .map(|(id, fence)| (Ulid::from_string(id).unwrap(), fence.parse().unwrap()))
            .collect();
        assert_eq!(back, runs);
    }
}
