//! The front door, measured the way an independent client sees it.
//!
//! tether, a raw tokio-tungstenite echo and a jsonrpsee server run side by side
//! in one run, each in its own process, driven by a load generator that is not
//! tether's (`benches/peers`, also its own process), and the ratios printed:
//! - `ping`: `server.ping` at 16 connections × 32 in flight;
//! - `latency`: p50/p99 at 1 × 1;
//! - `trace`: `runs.get_trace` of a 50-record page beside a server that answers
//!   every frame with those same bytes;
//! - `snapshot`: `runs.subscribe` to a run of 10,000 records (its snapshot) beside
//!   a server that answers with those same bytes, and tether's peak RSS growth;
//! - `fanout`: one publisher at a fixed rate below saturation, 1,000 event
//!   subscriptions over 100 connections, beside a raw broadcast-and-write loop at
//!   the same rate (delivered fraction, latency p50/p99); then each one's
//!   saturation point;
//! - `memory`: resident memory per idle authenticated connection, beside the
//!   floors (a TCP socket kept; a WebSocket with tether's buffers on one task);
//! - `instructions`: instructions per `server.ping` under callgrind, which do not
//!   move with the machine's noise (skipped when valgrind is missing).
//!
//! `cargo bench --bench rpc` runs them all; name some to run only those
//! (`cargo bench --bench rpc -- ping latency`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::{self, Server, median};
use common::{TOKEN, next_text, ws as connect};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

mod common;

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"server.ping"}"#;
const SECONDS: f64 = 2.0;
const ROUNDS: usize = 3;
const IDLE_CONNECTIONS: usize = 10_000;
const SECTIONS: [&str; 7] = ["ping", "latency", "trace", "snapshot", "fanout", "memory", "instructions"];

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
        let mut p999 = [vec![], vec![], vec![]];
        for _ in 0..ROUNDS {
            for (i, server) in [&tether, &echo, &jsonrpsee].into_iter().enumerate() {
                let load = peers::load(&bin, server, 1, 1, SECONDS, None);
                p50[i].push(load.p50_us);
                p99[i].push(load.p99_us);
                p999[i].push(load.p999_us);
            }
        }
        let [t50, e50, j50] = p50.map(median);
        let [t99, e99, j99] = p99.map(median);
        let [t999, e999, j999] = p999.map(median);
        println!(
            "latency 1 conn x 1 in flight (us): tether p50 {t50:.1} p99 {t99:.1} p99.9 {t999:.1} | raw echo p50 {e50:.1} \
             p99 {e99:.1} p99.9 {e999:.1} | jsonrpsee p50 {j50:.1} p99 {j99:.1} p99.9 {j999:.1} | tether/echo p50 {:.2} \
             p99 {:.2} p99.9 {:.2} (target <= 1.20)",
            t50 / e50,
            t99 / e99,
            t999 / e999
        );
    }
    if wants("trace") {
        runtime.block_on(trace(&bin, &tether));
    }
    if wants("snapshot") {
        runtime.block_on(snapshot(&bin, &tether));
    }
    if wants("fanout") {
        runtime.block_on(fanout(&bin, &tether));
    }
    if wants("memory") {
        let [t, e, j] = [&tether, &echo, &jsonrpsee].map(|s| runtime.block_on(idle_memory(s)));
        let hold = Server::peer(&bin, "TCP socket kept", &["hold"]);
        let ws_hold = Server::peer(&bin, "WebSocket on a task", &["ws-hold"]);
        let [h, w] = [&hold, &ws_hold].map(|s| runtime.block_on(idle_memory(s)));
        println!(
            "memory, {IDLE_CONNECTIONS} idle connections (KiB each): tether {t:.1} (target <= 8) | \
             raw echo {e:.1} | jsonrpsee {j:.1} | tether/echo {:.2} | tether/jsonrpsee {:.2}",
            t / e,
            t / j
        );
        println!(
            "memory parts (KiB each, user space; the kernel's socket buffers are not in RSS): a TCP socket kept {h:.1} | \
             + a WebSocket with tether's buffers (2 KiB read, 16 KiB write) on a task of its own {w:.1} (the floor) | \
             tether {t:.1}: its own per-connection state {:.1} above the floor",
            t - w
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
    // The snapshot section's 4.3 MiB reply is over the default unpaged bound (1 MiB).
    let config_text = format!(
        "[limits]\nmax_connections = {}\n\n[runs]\nmax_unpaged_reply_bytes = 8388608\n",
        IDLE_CONNECTIONS + 200
    );
    std::fs::write(&config, config_text).unwrap();
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(common::tether_bin());
            c
        }
        None => Command::new(common::tether_bin()),
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

/// A run of 50 turns, then its first 50 records read back at 16 × 32, beside a
/// server answering every frame with the same bytes (held, or read and checked).
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
    let stored = Server::peer(bin, "stored", &["stored", file.path().to_str().unwrap()]);
    let [t, c, s] = rounds(&[tether, &canned, &stored], |s| peers::load(bin, s, 16, 32, SECONDS, Some(&request)).rate);
    println!(
        "runs.get_trace 50 records ({} KiB reply) 16 x 32: tether {t:.0}/s | raw server writing the same bytes {c:.0}/s \
         | ratio {:.2} (target >= 0.5) | raw server reading them from a file, checking and writing them {s:.0}/s | ratio {:.2}",
        reply.len() / 1024,
        t / c,
        t / s
    );
    breakdown(&reply).await;
}

/// Where a page's time goes inside the daemon, step by step in this process on the
/// same 50 records: the journal read, wrapping each payload (or checking that it is
/// JSON, as a database's are), and the reply's serialisation (what the bytes-only
/// server does none of).
async fn breakdown(reply: &str) {
    use tether_store::{Journal, JournalOptions, Kind, RealFsync, Record};
    let page: Value = serde_json::from_str(reply).unwrap();
    let payloads: Vec<String> = page["result"]["records"].as_array().unwrap().iter().map(|r| r.to_string()).collect();
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = Journal::open(dir.path(), JournalOptions::default(), std::sync::Arc::new(RealFsync)).unwrap();
    let run = ulid::Ulid::new();
    let records: Vec<Record> = payloads
        .iter()
        .enumerate()
        .map(|(seq, p)| Record { kind: Kind::Turn, run_id: run, seq: seq as u32, payload: p.clone().into_bytes() })
        .collect();
    journal.append(&records).await.unwrap();
    const N: u32 = 2_000;
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / N as f64
    };
    let read = time(&mut || assert_eq!(journal.read(run, 0..50).unwrap().len(), 50));
    type Page = Vec<tether_proto::stored::Stored<Value>>;
    // The local journal's records are vouched for by its CRC and wrapped as they
    // are; a database's are checked to be JSON first (what every page cost before).
    let wrap = time(&mut || {
        let page: Page = payloads.iter().map(|p| tether_proto::stored::Stored::from_written_json(p.clone())).collect();
        assert_eq!(page.len(), 50);
    });
    let check = time(&mut || {
        for p in &payloads {
            tether_proto::stored::Stored::<Value>::from_json(p.clone()).unwrap();
        }
    });
    let page: Page = payloads.iter().map(|p| tether_proto::stored::Stored::from_written_json(p.clone())).collect();
    let serialise = time(&mut || {
        assert!(serde_json::to_string(&page).unwrap().len() > 1000);
    });
    println!(
        "runs.get_trace page, step by step in-process (us per page): journal read {read:.1} | wrap the journal's \
         records {wrap:.1} (a database's, checked to be JSON: {check:.1}) | serialise the reply {serialise:.1}"
    );
}

/// A run of 10,000 turns, then `runs.subscribe` to it (a 10,000-record snapshot in
/// one reply) at 2 x 1, beside a server answering every frame with the same bytes,
/// held in memory or read afresh from a file and checked (`stored`): what a durable
/// store cannot skip.
async fn snapshot(bin: &Path, tether: &Server) {
    const TURNS: usize = 10_000;
    let harness = tether_client::Client::builder(&tether.url)
        .token(TOKEN)
        .on_request("tools.execute", |p: Value| async move {
            Ok(json!({"stdout": "x".repeat(120), "echo": p["parameters"]}))
        })
        .connect()
        .await
        .unwrap();
    harness.call_raw("tools.register", json!([{"name": "shell"}])).await.unwrap();
    let started =
        harness.call_raw("runs.start", json!({"intent": "snapshot bench", "agent_id": "snap"})).await.unwrap();
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    // 100 actions a proposal: 100 turns per round trip of the harness.
    for chunk in 0..TURNS / 100 {
        let actions: Vec<Value> = (0..100)
            .map(|i| {
                json!({"type": "tool_call", "id": format!("a{i}"), "tool": "shell",
                "parameters": {"command": format!("cargo test -p crate-{chunk}-{i}")}})
            })
            .collect();
        harness.call_raw("proposal.submit", json!({"proposal": {"actions": actions}})).await.unwrap();
    }
    let request =
        json!({"jsonrpc": "2.0", "id": 1, "method": "runs.subscribe", "params": {"run_id": run_id}}).to_string();
    let mut ws = connect(tether).await;
    ws.send(Message::Text(request.as_str().into())).await.unwrap();
    let reply = next_text(&mut ws).await;
    let records = serde_json::from_str::<Value>(&reply).unwrap()["result"]["snapshot"].as_array().unwrap().len();
    assert_eq!(records, TURNS + 1, "{}", &reply[..reply.len().min(300)]);
    drop(ws);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &reply).unwrap();
    let canned = Server::peer(bin, "canned", &["canned", file.path().to_str().unwrap()]);
    let stored = Server::peer(bin, "stored", &["stored", file.path().to_str().unwrap()]);
    let peak = tether.hwm_kib();
    let [t, c, s] = rounds(&[tether, &canned, &stored], |s| peers::load(bin, s, 2, 1, SECONDS, Some(&request)).rate);
    println!(
        "runs.subscribe snapshot of {} records ({} KiB reply) 2 x 1: tether {t:.1}/s | raw server writing the same bytes \
         {c:.1}/s | ratio {:.2} (target >= 0.5) | raw server reading them from a file, checking and writing them {s:.1}/s \
         | ratio {:.2} | tether peak RSS grew {:.0} KiB while serving them",
        TURNS + 1,
        reply.len() / 1024,
        t / c,
        t / s,
        tether.hwm_kib() - peak
    );
}

/// Fan-out paced below saturation: one publisher at a fixed event rate to 1,000
/// subscriptions over 100 connections, tether beside the raw broadcast-and-write
/// loop at the same rate (delivered fraction, latency from publish to delivery);
/// then the saturation point of each (a doubling ladder).
async fn fanout(bin: &Path, tether: &Server) {
    use common::fanout::{CONNECTIONS, PER_CONNECTION, paced, sample, saturation};
    const RATE: f64 = 100.0;
    let raw = Server::peer(bin, "broadcast", &["broadcast"]);
    let sample = sample(tether).await;
    let subscriptions = CONNECTIONS * PER_CONNECTION;
    for round in 0..ROUNDS {
        let mut line =
            format!("fan-out paced, round {}: {RATE:.0} events/s x {subscriptions} subscriptions", round + 1);
        let mut rates = [0.0; 2];
        for (i, server) in [tether, &raw].into_iter().enumerate() {
            let run = paced(server, &sample, RATE, SECONDS).await;
            rates[i] = run.rate;
            line += &format!(" | {}: {run}", server.name);
        }
        println!("{line} | ratio {:.2} (target >= 0.80)", rates[0] / rates[1]);
    }
    let mut points = Vec::new();
    for server in [tether, &raw] {
        points.push(saturation(server, &sample, RATE).await);
    }
    let [((te, td), tn), ((re, rd), rn)] = [points[0].clone(), points[1].clone()];
    println!(
        "fan-out saturation (highest rate of a doubling ladder from {RATE:.0}/s with every delivery in and p99 < 50 ms): \
         tether {te:.0} events/s = {td:.0} deliveries/s | raw broadcast-and-write {re:.0} events/s = {rd:.0} deliveries/s \
         | ratio {:.2} | next step: tether {tn}; raw {rn}",
        td / rd
    );
}

/// Server resident memory added per idle connection.
async fn idle_memory(server: &Server) -> f64 {
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS + 1);
    let mut sockets = Vec::new();
    let mut open = async |idle: &mut Vec<common::Ws>| match server.name {
        // A server that never answers the upgrade: a plain socket.
        "TCP socket kept" => sockets.push(tokio::net::TcpStream::connect(server.addr()).await.unwrap()),
        _ => idle.push(connect(server).await),
    };
    // One connection first, so one-time allocations do not count per connection.
    open(&mut idle).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss_kib();
    for _ in 0..IDLE_CONNECTIONS {
        open(&mut idle).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    drop(idle);
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
            totals.push(peers::callgrind_total(&PathBuf::from(&*out)));
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
