//! The front door, measured the way an independent client sees it.
//!
//! tether, a raw tokio-tungstenite echo and a jsonrpsee server run side by side
//! in one run, each in its own process, driven by a load generator that is not
//! tether's (`benches/peers`, also its own process), and the ratios printed:
//! - `ping`: `server.ping` at 16 connections × 32 in flight;
//! - `latency`: p50/p99 at 1 × 1;
//! - `trace`: `runs.get_trace` of a 50-record page beside a server that answers
//!   every frame with those same bytes;
//! - `fanout`: one publisher, 1,000 event subscriptions over 100 connections,
//!   beside a raw broadcast-and-write loop;
//! - `memory`: resident memory per idle authenticated connection;
//! - `instructions`: instructions per `server.ping` under callgrind, which do not
//!   move with the machine's noise (skipped when valgrind is missing).
//!
//! `cargo bench --bench rpc` runs them all; name some to run only those
//! (`cargo bench --bench rpc -- ping latency`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::{self, Server, median};
use common::{Meter, TOKEN};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

mod common;

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"server.ping"}"#;
const SECONDS: f64 = 2.0;
const ROUNDS: usize = 3;
const IDLE_CONNECTIONS: usize = 10_000;
const SECTIONS: [&str; 6] = ["ping", "latency", "trace", "fanout", "memory", "instructions"];

fn main() {
    let chosen: Vec<String> = std::env::args().skip(1).filter(|a| SECTIONS.contains(&a.as_str())).collect();
    let wants = |section: &str| chosen.is_empty() || chosen.iter().any(|c| c == section);
    let bin = peers::build();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let tether = tether(&[]);
    let echo = Server::peer(&bin, "raw echo", &["echo"]);
    let jsonrpsee = Server::peer(&bin, "jsonrpsee", &["jsonrpsee"]);

    if wants("ping") {
        let [t, e, j] = rounds(&[&tether, &echo, &jsonrpsee], |s| peers::load(&bin, s, 16, 32, SECONDS, None).rate);
        println!(
            "ping 16 conn x 32 in flight: tether {t:.0}/s | raw echo {e:.0}/s | jsonrpsee {j:.0}/s | \
             tether/echo {:.2} (target >= 0.90) | tether/jsonrpsee {:.2} (target >= 1.30)",
            t / e,
            t / j
        );
    }
    if wants("latency") {
        let mut p50 = [vec![], vec![], vec![]];
        let mut p99 = [vec![], vec![], vec![]];
        for _ in 0..ROUNDS {
            for (i, server) in [&tether, &echo, &jsonrpsee].into_iter().enumerate() {
                let load = peers::load(&bin, server, 1, 1, SECONDS, None);
                p50[i].push(load.p50_us);
                p99[i].push(load.p99_us);
            }
        }
        let [t50, e50, j50] = p50.map(median);
        let [t99, e99, j99] = p99.map(median);
        println!(
            "latency 1 conn x 1 in flight (us): tether p50 {t50:.1} p99 {t99:.1} | raw echo p50 {e50:.1} p99 {e99:.1} | \
             jsonrpsee p50 {j50:.1} p99 {j99:.1} | tether/echo p50 {:.2} p99 {:.2} (target <= 1.20)",
            t50 / e50,
            t99 / e99
        );
    }
    if wants("trace") {
        runtime.block_on(trace(&bin, &tether));
    }
    if wants("fanout") {
        runtime.block_on(fanout(&bin, &tether));
    }
    if wants("memory") {
        let [t, e, j] = [&tether, &echo, &jsonrpsee].map(|s| runtime.block_on(idle_memory(s)));
        println!(
            "memory, {IDLE_CONNECTIONS} idle connections (KiB each): tether {t:.1} (target <= 12.7) | \
             raw echo {e:.1} | jsonrpsee {j:.1} | tether/echo {:.2} | tether/jsonrpsee {:.2}",
            t / e,
            t / j
        );
    }
    drop((tether, echo, jsonrpsee));
    if wants("instructions") {
        if Command::new("valgrind").arg("--version").output().is_ok() {
            runtime.block_on(instructions(&bin));
        } else {
            println!("instructions: skipped (valgrind is not installed)");
        }
    }
}

/// `tether serve` with the bench token and room for the idle connections;
/// `wrap` prefixes the command (callgrind).
fn tether(wrap: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, format!("[limits]\nmax_connections = {}\n", IDLE_CONNECTIONS + 200)).unwrap();
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(env!("CARGO_BIN_EXE_tether"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_tether")),
    };
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("TETHER_TOKEN", TOKEN)
        .env("RUST_LOG", "warn");
    Server::spawn("tether", command, true, Some(dir))
}

/// The medians of `ROUNDS` rounds in which every server takes its turn, so that
/// a burst of machine noise lands on all of them.
fn rounds<const N: usize>(servers: &[&Server; N], mut measure: impl FnMut(&Server) -> f64) -> [f64; N] {
    let mut samples: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..ROUNDS {
        for (i, server) in servers.iter().enumerate() {
            samples[i].push(measure(server));
        }
    }
    samples.map(median)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection with small client buffers: authenticated and past the
/// handshake for tether, plain for the peers.
async fn connect(server: &Server) -> Ws {
    let mut request = server.url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await.unwrap();
    if server.tether {
        let hs = r#"{"jsonrpc":"2.0","id":0,"method":"server.handshake","params":{"protocol_version":3}}"#;
        ws.send(Message::Text(hs.into())).await.unwrap();
        next_text(&mut ws).await;
    }
    ws
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        if let Message::Text(text) = ws.next().await.unwrap().unwrap() {
            return text.to_string();
        }
    }
}

/// A run of 50 turns, then its first 50 records read back at 16 × 32, beside a
/// server answering every frame with the same bytes.
async fn trace(bin: &Path, tether: &Server) {
    let harness = tether_client::Client::builder(&tether.url)
        .token(TOKEN)
        .on_request("tools.execute", |p: Value| async move {
            Ok(json!({"stdout": "x".repeat(120), "echo": p["parameters"]}))
        })
        .connect()
        .await
        .unwrap();
    harness.call_raw("tools.register", json!([{"name": "shell"}])).await.unwrap();
    let started = harness.call_raw("runs.start", json!({"intent": "trace bench", "agent_id": "bench"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    for i in 0..50 {
        let action = json!({"type": "tool_call", "tool": "shell", "parameters": {"command": format!("cargo test -p crate-{i}")}});
        harness.call_raw("proposal.submit", json!({"proposal": {"actions": [action]}})).await.unwrap();
    }
    let request =
        json!({"jsonrpc": "2.0", "id": 1, "method": "runs.get_trace", "params": {"run_id": run_id, "limit": 50}})
            .to_string();
    let mut ws = connect(tether).await;
    ws.send(Message::Text(request.as_str().into())).await.unwrap();
    let reply = next_text(&mut ws).await;
    let records = serde_json::from_str::<Value>(&reply).unwrap()["result"]["records"].as_array().unwrap().len();
    assert_eq!(records, 50, "{reply}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &reply).unwrap();
    let canned = Server::peer(bin, "canned", &["canned", file.path().to_str().unwrap()]);
    let [t, c] = rounds(&[tether, &canned], |s| peers::load(bin, s, 16, 32, SECONDS, Some(&request)).rate);
    println!(
        "runs.get_trace 50 records ({} KiB reply) 16 x 32: tether {t:.0}/s | raw server writing the same bytes {c:.0}/s | ratio {:.2}",
        reply.len() / 1024,
        t / c
    );
}

/// One publisher; 100 connections holding 10 subscriptions each: events
/// delivered per second, beside a raw broadcast-and-write loop.
async fn fanout(bin: &Path, tether: &Server) {
    const CONNECTIONS: usize = 100;
    const PER_CONNECTION: usize = 10;
    let raw = Server::peer(bin, "broadcast", &["broadcast"]);
    let ingest = json!({"jsonrpc": "2.0", "id": 1, "method": "hooks.ingest",
        "params": {"hook_event_name": "Notification", "session_id": "bench", "message": "build finished"}})
    .to_string();
    let mut sample = String::new();
    let mut results = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, server) in [tether, &raw].into_iter().enumerate() {
            let meter = Meter::default();
            let mut subscribers = Vec::new();
            for _ in 0..CONNECTIONS {
                let mut ws = connect(server).await;
                for _ in 0..PER_CONNECTION {
                    let subscribe = if server.tether {
                        r#"{"jsonrpc":"2.0","id":2,"method":"events.subscribe","params":{"families":["hooks.event"]}}"#
                    } else {
                        "sub"
                    };
                    ws.send(Message::Text(subscribe.into())).await.unwrap();
                    next_text(&mut ws).await;
                }
                let meter = meter.clone();
                subscribers.push(tokio::spawn(async move {
                    while let Some(Ok(message)) = ws.next().await {
                        if message.is_text() {
                            meter.tick();
                        }
                        if meter.stopped() {
                            break;
                        }
                    }
                }));
            }
            let mut publisher = connect(server).await;
            if server.tether && sample.is_empty() {
                // The raw loop broadcasts frames the size of tether's notification.
                let mut probe = connect(server).await;
                probe
                    .send(Message::Text(
                        r#"{"jsonrpc":"2.0","id":2,"method":"events.subscribe","params":{"families":["hooks.event"]}}"#
                            .into(),
                    ))
                    .await
                    .unwrap();
                next_text(&mut probe).await;
                publisher.send(Message::Text(ingest.as_str().into())).await.unwrap();
                sample = next_text(&mut probe).await;
                next_text(&mut publisher).await;
            }
            let frame = if server.tether { ingest.clone() } else { sample.clone() };
            let stop = meter.clone();
            let tether_side = server.tether;
            subscribers.push(tokio::spawn(async move {
                let (mut tx, mut rx) = publisher.split();
                if tether_side {
                    // 32 hooks.ingest in flight, one more per reply.
                    for _ in 0..32 {
                        tx.feed(Message::Text(frame.as_str().into())).await.unwrap();
                    }
                    tx.flush().await.unwrap();
                    while let Some(Ok(_)) = rx.next().await {
                        if stop.stopped() {
                            break;
                        }
                        tx.send(Message::Text(frame.as_str().into())).await.unwrap();
                    }
                } else {
                    while !stop.stopped() {
                        tx.send(Message::Text(frame.as_str().into())).await.unwrap();
                        tokio::task::yield_now().await;
                    }
                }
            }));
            let rate = meter.measure(subscribers, Duration::from_millis(500), Duration::from_secs_f64(SECONDS)).await;
            results[i].push(rate);
        }
    }
    let [t, r] = results.map(median);
    println!(
        "fan-out 1 publisher -> {} subscriptions on {CONNECTIONS} connections ({} B events): tether {t:.0} deliveries/s | \
         raw broadcast-and-write {r:.0}/s | ratio {:.2}",
        CONNECTIONS * PER_CONNECTION,
        sample.len(),
        t / r
    );
}

/// Server resident memory added per idle connection.
async fn idle_memory(server: &Server) -> f64 {
    // One connection first, so one-time allocations do not count per connection.
    let first = connect(server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss_kib();
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(connect(server).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    drop(idle);
    drop(first);
    (after - before) / IDLE_CONNECTIONS as f64
}

/// Instructions per `server.ping`: each server under callgrind answers a short
/// and a long burst; the difference divided by the extra requests leaves out
/// start-up, connection set-up and shutdown.
async fn instructions(bin: &Path) {
    let (short, long) = (2_000u64, 22_000u64);
    let mut per_request = Vec::new();
    for name in ["tether", "raw echo", "jsonrpsee"] {
        let mut totals = Vec::new();
        for n in [short, long] {
            let out = tempfile::NamedTempFile::new().unwrap().into_temp_path();
            let file = format!("--callgrind-out-file={}", out.display());
            let wrap = ["valgrind", "--tool=callgrind", "--quiet", file.as_str()];
            let server = match name {
                "tether" => tether(&wrap),
                peer => {
                    let mut command = Command::new(wrap[0]);
                    command.args(&wrap[1..]).arg(bin).arg(if peer == "raw echo" { "echo" } else { "jsonrpsee" });
                    Server::spawn(if peer == "raw echo" { "raw echo" } else { "jsonrpsee" }, command, false, None)
                }
            };
            burst(&server, n).await;
            server.stop();
            totals.push(callgrind_total(&PathBuf::from(&*out)));
        }
        per_request.push((totals[1] - totals[0]) as f64 / (long - short) as f64);
    }
    let [t, e, j] = [per_request[0], per_request[1], per_request[2]];
    println!(
        "instructions per server.ping (callgrind, 1 connection x 32 in flight): tether {t:.0} | raw echo {e:.0} | \
         jsonrpsee {j:.0} | tether/echo {:.2} | tether/jsonrpsee {:.2}",
        t / e,
        t / j
    );
}

/// `n` pings on one connection, 32 in flight, every reply awaited.
async fn burst(server: &Server, n: u64) {
    let (mut tx, mut rx) = connect(server).await.split();
    let started = Instant::now();
    let mut sent = 0;
    while sent < n.min(32) {
        tx.feed(Message::Text(PING.into())).await.unwrap();
        sent += 1;
    }
    tx.flush().await.unwrap();
    let mut answered = 0;
    while answered < n {
        let message = rx.next().await.unwrap().unwrap();
        if !message.is_text() {
            continue;
        }
        answered += 1;
        if sent < n {
            tx.send(Message::Text(PING.into())).await.unwrap();
            sent += 1;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(300));
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn callgrind_total(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().rev().find(|l| l.starts_with("totals:") || l.starts_with("summary:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
