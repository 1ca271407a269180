//! Wake-up hints across nodes: LISTEN/NOTIFY carries only "run X has new
//! records"; followers read the records back from the tables, and poll anyway
//! (a hint can be lost: a listener reconnecting, a node dying between its
//! commit and its notify). Hints are sent after the commit, by a task of their
//! own on a connection of their own, never inside the commit's transaction
//! (which would serialise every commit behind the notify queue's lock).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::poll_fn;
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};
use tokio_postgres::{AsyncMessage, Config, NoTls};
use ulid::Ulid;

const CHANNEL: &str = "tether_records";
/// NOTIFY payloads must stay under 8,000 bytes.
const MAX_PAYLOAD: usize = 7_900;

/// Runs written since the last NOTIFY, coalesced.
#[derive(Default)]
pub(crate) struct Outbox {
    runs: Mutex<BTreeSet<Ulid>>,
    ready: Notify,
}

impl Outbox {
    pub(crate) fn push(&self, runs: impl IntoIterator<Item = Ulid>) {
        self.runs.lock().extend(runs);
        self.ready.notify_one();
    }
}

/// Sends what the outbox holds, one NOTIFY per ~7.9 KB of run ids.
pub(crate) fn spawn_notifier(config: Config, outbox: Arc<Outbox>) {
    tokio::spawn(async move {
        let mut client = None;
        loop {
            outbox.ready.notified().await;
            let runs = std::mem::take(&mut *outbox.runs.lock());
            if runs.is_empty() {
                continue;
            }
            if client.as_ref().is_none_or(|c: &tokio_postgres::Client| c.is_closed()) {
                client = crate::batch::connect(&config).await.ok();
            }
            let Some(c) = &client else { continue };
            for payload in payloads(&runs) {
                if let Err(error) = c.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await {
                    tracing::debug!(%error, "a hint was not sent (followers poll anyway)");
                    break;
                }
            }
        }
    });
}

fn payloads(runs: &BTreeSet<Ulid>) -> Vec<String> {
    let mut out = vec![String::new()];
    for run in runs {
        let last = out.last_mut().expect("never empty");
        if last.len() + 27 > MAX_PAYLOAD {
            out.push(String::new());
        }
        let last = out.last_mut().expect("never empty");
        if !last.is_empty() {
            last.push(',');
        }
        last.push_str(&run.to_string());
    }
    out
}

/// LISTENs on its own connection (reconnecting) and broadcasts each hinted run,
/// until the store that owns the channel is gone.
pub(crate) fn spawn_listener(config: Config, hints: broadcast::WeakSender<Ulid>, events: broadcast::WeakSender<()>) {
    tokio::spawn(async move {
        loop {
            if let Err(error) = listen(&config, &hints, &events).await {
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
    config: &Config,
    hints: &broadcast::WeakSender<Ulid>,
    events: &broadcast::WeakSender<()>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
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
                for run in note.payload().split(',').filter_map(|id| Ulid::from_string(id).ok()) {
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
        let runs: BTreeSet<Ulid> = (0..1_000).map(|_| Ulid::new()).collect();
        let payloads = payloads(&runs);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let back: BTreeSet<Ulid> =
            payloads.iter().flat_map(|p| p.split(',')).map(|id| Ulid::from_string(id).unwrap()).collect();
        assert_eq!(back, runs);
    }
}
