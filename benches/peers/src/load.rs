//! A WebSocket load generator: connections × depth requests in flight, replies
//! counted in a window, round trips timed when one request is in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const WARM_UP: Duration = Duration::from_millis(500);

pub async fn run(args: &[String]) {
    let url = &args[0];
    let connections: usize = args[1].parse().unwrap();
    let depth: usize = args[2].parse().unwrap();
    let seconds: f64 = args[3].parse().unwrap();
    let mut token = None;
    let mut handshake = false;
    let mut message = r#"{"jsonrpc":"2.0","id":1,"method":"server.ping"}"#.to_owned();
    let mut rest = args[4..].iter();
    while let Some(flag) = rest.next() {
        match flag.as_str() {
            "--token" => token = rest.next().cloned(),
            "--handshake" => handshake = true,
            "--message" => message = rest.next().unwrap().clone(),
            other => panic!("unknown flag {other}"),
        }
    }

    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let mut request = url.as_str().into_client_request().unwrap();
        if let Some(token) = &token {
            request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(crate::config()), true).await.unwrap();
        if handshake {
            let hs = r#"{"jsonrpc":"2.0","id":0,"method":"server.handshake","params":{"protocol_version":3}}"#;
            ws.send(Message::Text(hs.into())).await.unwrap();
            while !ws.next().await.unwrap().unwrap().is_text() {}
        }
        let (counting, stop, counted) = (counting.clone(), stop.clone(), counted.clone());
        let message = message.clone();
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            let mut latencies = Vec::new();
            let mut sent_at = Instant::now();
            for _ in 0..depth {
                tx.feed(Message::Text(message.as_str().into())).await.unwrap();
            }
            tx.flush().await.unwrap();
            while let Some(Ok(reply)) = rx.next().await {
                if !reply.is_text() {
                    continue;
                }
                if counting.load(Ordering::Relaxed) {
                    counted.fetch_add(1, Ordering::Relaxed);
                    if depth == 1 {
                        latencies.push(sent_at.elapsed().as_secs_f64() * 1e6);
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                sent_at = Instant::now();
                tx.send(Message::Text(message.as_str().into())).await.unwrap();
            }
            latencies
        }));
    }
    let (n, elapsed, latencies) = timed(&counting, &stop, &counted, seconds, tasks).await;
    report(n, elapsed, latencies);
}

/// The measured window both load generators share: a warm-up, then `seconds` counted;
/// then every task is stopped and its latencies gathered. Returns (counted, seconds, latencies).
pub(crate) async fn timed(
    counting: &AtomicBool,
    stop: &AtomicBool,
    counted: &AtomicU64,
    seconds: f64,
    tasks: Vec<tokio::task::JoinHandle<Vec<f64>>>,
) -> (u64, f64, Vec<f64>) {
    tokio::time::sleep(WARM_UP).await;
    counting.store(true, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let n = counted.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    counting.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        if let Ok(Ok(mut l)) = tokio::time::timeout(Duration::from_secs(5), task).await {
            latencies.append(&mut l);
        }
    }
    (n, elapsed, latencies)
}

/// Prints `rate=… p50_us=… p99_us=… p999_us=…`.
pub(crate) fn report(n: u64, elapsed: f64, mut latencies: Vec<f64>) {
    sort(&mut latencies);
    let at = |q: f64| quantile(&latencies, q);
    println!("rate={:.0} p50_us={:.1} p99_us={:.1} p999_us={:.1}", n as f64 / elapsed, at(0.5), at(0.99), at(0.999));
}

pub(crate) fn sort(values: &mut [f64]) {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
}

/// The `q` quantile of sorted `values` (NaN if there are none).
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    values.get((values.len() as f64 * q) as usize).copied().unwrap_or(f64::NAN)
}
