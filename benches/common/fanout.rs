//! Paced fan-out: a publisher at a fixed event rate (below saturation, so the figure
//! is delivery cost, not an overloaded bus), every delivery's latency from its
//! publish, and the delivered fraction; the same for tether and the raw
//! broadcast-and-write loop (`benches/peers`' `broadcast`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::peers::Server;

pub const CONNECTIONS: usize = 100;
pub const PER_CONNECTION: usize = 10;
const SUBSCRIBE: &str = r#"{"jsonrpc":"2.0","id":2,"method":"events.subscribe","params":{"families":["hooks.event"]}}"#;

/// What one paced window delivered.
pub struct Paced {
    /// Events the publisher sent.
    pub published: u64,
    /// Deliveries that arrived over published × subscriptions.
    pub delivered: f64,
    /// Deliveries per second over the publishing window.
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// `events.lagged` notices (a subscription's queue overflowed) and refused publishes.
    pub lagged: u64,
    pub refused: u64,
}

impl std::fmt::Display for Paced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} deliveries/s, delivered {:.4}, p50 {:.2} ms, p99 {:.2} ms, lagged notices {}, refused publishes {}",
            self.rate, self.delivered, self.p50_ms, self.p99_ms, self.lagged, self.refused
        )
    }
}

/// The `hooks.ingest` whose event carries `t=` (12 digits: microseconds since `epoch`);
/// its id is `n`: a request id still in flight may not be used again (-32600).
pub fn ingest(n: u64, stamp: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{n},"method":"hooks.ingest","params":{{"hook_event_name":"Notification","session_id":"bench","message":"build finished t={stamp:012}"}}}}"#
    )
}

fn stamp_of(text: &str) -> Option<u64> {
    let at = text.find("t=")? + 2;
    text.get(at..at + 12)?.parse().ok()
}

/// tether's notification for one `ingest`, so the raw loop broadcasts frames of the same size.
pub async fn sample(tether: &Server) -> String {
    let mut probe = super::ws(tether).await;
    probe.send(Message::Text(SUBSCRIBE.into())).await.unwrap();
    super::next_text(&mut probe).await;
    let mut publisher = super::ws(tether).await;
    publisher.send(Message::Text(ingest(0, 0).into())).await.unwrap();
    let sample = super::next_text(&mut probe).await;
    assert!(stamp_of(&sample) == Some(0), "{sample}");
    sample
}

/// Publishes `events_per_sec` for `seconds` to CONNECTIONS × PER_CONNECTION subscriptions.
pub async fn paced(server: &Server, sample: &str, events_per_sec: f64, seconds: f64) -> Paced {
    let epoch = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let lagged = Arc::new(AtomicU64::new(0));
    let mut subscribers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut ws = super::ws(server).await;
        for _ in 0..PER_CONNECTION {
            ws.send(Message::Text(if server.tether { SUBSCRIBE } else { "sub" }.into())).await.unwrap();
            super::next_text(&mut ws).await;
        }
        let (delivered, lagged) = (delivered.clone(), lagged.clone());
        subscribers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_millis(1500), ws.next()).await {
                if let Message::Text(text) = &message
                    && let Some(sent) = stamp_of(text)
                {
                    latencies.push((epoch.elapsed().as_micros() as u64).saturating_sub(sent));
                    delivered.fetch_add(1, Ordering::Relaxed);
                } else if let Message::Text(text) = message
                    && text.contains("events.lagged")
                {
                    lagged.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    let (mut tx, mut rx) = super::ws(server).await.split();
    // tether answers every `hooks.ingest`: refusals counted.
    let refused = Arc::new(AtomicU64::new(0));
    let counter = refused.clone();
    let replies = tokio::spawn(async move {
        while let Some(Ok(message)) = rx.next().await {
            if let Message::Text(text) = message
                && text.contains("\"error\"")
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let start = Instant::now();
    let mut published = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while start.elapsed().as_secs_f64() < seconds {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * events_per_sec) as u64;
        while published < due {
            let stamp = epoch.elapsed().as_micros() as u64;
            let frame = match server.tether {
                true => ingest(published, stamp),
                false => sample.replacen("t=000000000000", &format!("t={stamp:012}"), 1),
            };
            tx.feed(Message::Text(frame.into())).await.unwrap();
            published += 1;
        }
        tx.flush().await.unwrap();
    }
    let window = start.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    for subscriber in subscribers {
        latencies.append(&mut subscriber.await.unwrap());
    }
    replies.abort();
    latencies.sort_unstable();
    let at = |q: f64| latencies.get((latencies.len() as f64 * q) as usize).map_or(f64::NAN, |&us| us as f64 / 1e3);
    let expected = published * (CONNECTIONS * PER_CONNECTION) as u64;
    Paced {
        published,
        delivered: delivered.load(Ordering::Relaxed) as f64 / expected as f64,
        rate: delivered.load(Ordering::Relaxed) as f64 / window,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        lagged: lagged.load(Ordering::Relaxed),
        refused: refused.load(Ordering::Relaxed),
    }
}

/// The highest rate of a doubling ladder at which every event arrived with a p99
/// under 50 ms: the saturation point (events per second, deliveries per second);
/// and what the next step saw.
pub async fn saturation(server: &Server, sample: &str, from: f64) -> ((f64, f64), String) {
    let mut best = (0.0, 0.0);
    let mut rate = from;
    loop {
        let run = paced(server, sample, rate, 1.5).await;
        if run.delivered < 0.999 || run.p99_ms > 50.0 {
            return (best, format!("at {rate:.0} events/s: {run}"));
        }
        best = (rate, run.rate);
        rate *= 2.0;
    }
}
