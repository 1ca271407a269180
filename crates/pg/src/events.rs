//! Events every node's subscribers see. A node's events are queued (never
//! waiting: a full queue drops and counts), inserted in batches by a writer
//! task, and hinted with NOTIFY after the insert commits; every node reads the
//! other nodes' rows back in `seq` order and hands them to its own bus. A
//! bigserial can commit out of order, so the reader remembers what it delivered
//! above its floor and only steps over a gap once the rows after it are older
//! than `SETTLE` (a rolled-back insert leaves a gap for ever). Rows older than
//! `KEEP` are deleted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{broadcast, mpsc};

use crate::NodeId;

pub(crate) const CHANNEL: &str = "tether_events";
const QUEUE: usize = 10_000;
const BATCH: usize = 500;
const READ_EVERY: Duration = Duration::from_millis(250);
/// Events wait this long to share one insert: a busy node publishes an event per
/// turn, and an insert per event would cost its writes a third of their rate.
const GATHER: Duration = Duration::from_millis(20);
const SETTLE_MS: f64 = 2_000.0;
const KEEP: &str = "1 hour";

/// This node's side of the shared event log.
pub struct EventSink {
    queue: mpsc::Sender<Vec<u8>>,
}

impl EventSink {
    /// Queues an event's JSON for the other nodes; never waits. False when the
    /// queue is full (the database slow or away) and the event was dropped.
    pub fn share(&self, event: Vec<u8>) -> bool {
        self.queue.try_send(event).is_ok()
    }
}

pub(crate) fn start(
    pool: Pool,
    node: NodeId,
    wake: broadcast::Receiver<()>,
) -> (Arc<EventSink>, mpsc::Receiver<Vec<u8>>) {
    let (queue, outgoing) = mpsc::channel(QUEUE);
    let (incoming, received) = mpsc::channel(QUEUE);
    tokio::spawn(write(pool.clone(), node.clone(), outgoing));
    tokio::spawn(read(pool, node, incoming, wake));
    (Arc::new(EventSink { queue }), received)
}

async fn write(pool: Pool, node: NodeId, mut outgoing: mpsc::Receiver<Vec<u8>>) {
    let mut last_cleanup = std::time::Instant::now();
    while let Some(first) = outgoing.recv().await {
        tokio::time::sleep(GATHER).await;
        let mut bodies = vec![first];
        while bodies.len() < BATCH {
            let Ok(more) = outgoing.try_recv() else { break };
            bodies.push(more);
        }
        let written = async {
            let client = pool.get().await.map_err(|e| e.to_string())?;
            client
                .execute(
                    "INSERT INTO tether_events (node, body) SELECT $1, b FROM unnest($2::bytea[]) AS b",
                    &[&node.get(), &bodies],
                )
                .await
                .map_err(|e| e.to_string())?;
            // After the insert committed, on its own: a hint, not data.
            let _ = client.execute("SELECT pg_notify($1, '')", &[&CHANNEL]).await;
            if last_cleanup.elapsed() > Duration::from_secs(60) {
                last_cleanup = std::time::Instant::now();
                let _ = client
                    .execute(&format!("DELETE FROM tether_events WHERE created_at < now() - interval '{KEEP}'"), &[])
                    .await;
            }
            Ok::<_, String>(())
        }
        .await;
        if let Err(error) = written {
            tracing::debug!(%error, events = bodies.len(), "events not shared with other nodes");
        }
    }
}

async fn read(pool: Pool, node: NodeId, incoming: mpsc::Sender<Vec<u8>>, mut wake: broadcast::Receiver<()>) {
    // Start at the end: a node sees what other nodes publish from now on.
    let mut floor: i64 = loop {
        match pool.get().await {
            Ok(client) => match client.query_one("SELECT coalesce(max(seq), 0) FROM tether_events", &[]).await {
                Ok(row) => break row.get(0),
                Err(error) => tracing::debug!(%error, "event reader: retrying"),
            },
            Err(error) => tracing::debug!(%error, "event reader: retrying"),
        }
        tokio::time::sleep(READ_EVERY).await;
    };
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep(READ_EVERY) => {}
            () = rung(&mut wake) => {}
        }
        if incoming.is_closed() {
            return;
        }
        let rows = match pool.get().await {
            Ok(client) => client
                .query(
                    "SELECT seq, node, body, (extract(epoch FROM now() - created_at) * 1000)::float8 FROM tether_events
                     WHERE seq > $1 ORDER BY seq LIMIT 1000",
                    &[&floor],
                )
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                tracing::debug!(%error, "event reader: retrying");
                continue;
            }
        };
        let me = node.get();
        for row in rows {
            let seq: i64 = row.get(0);
            if !seen.insert(seq) {
                continue;
            }
            let from: &str = row.get(1);
            if from != me && incoming.try_send(row.get(2)).is_err() {
                tracing::debug!("event reader: this node's bus is behind; an event from another node was dropped");
            }
            let age_ms: f64 = row.get::<_, Option<f64>>(3).unwrap_or(0.0);
            // A gap below a row this old will never fill: step over it.
            if age_ms > SETTLE_MS {
                while seen.first().is_some_and(|s| *s <= seq) {
                    floor = floor.max(seen.pop_first().expect("checked"));
                }
            }
        }
        while seen.first() == Some(&(floor + 1)) {
            floor += 1;
            seen.pop_first();
        }
    }
}

/// Resolves when a node hinted new events (or hints were lost); never once the
/// hint channel is gone.
async fn rung(wake: &mut broadcast::Receiver<()>) {
    if let Err(broadcast::error::RecvError::Closed) = wake.recv().await {
        std::future::pending::<()>().await;
    }
}
