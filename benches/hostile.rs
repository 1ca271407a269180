//! What hostile clients cost the daemon: its RSS, peak RSS and CPU time under each
//! attack, from this separate client process, next to the idle daemon's baseline.
//! Run with `cargo bench --bench hostile`; `TETHER_BIN=/path/to/tether` measures
//! another build (e.g. an older one) with the same client.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tether_client::Client;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod common;

use common::{Daemon, TOKEN};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--bystander") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        return runtime.block_on(bystander(&args[at + 1]));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let bin = std::env::var("TETHER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tether").to_owned());
    println!("daemon: {bin}");
    // `cargo bench --bench hostile -- storm` runs only the attacks whose name has "storm".
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let attacks = [
        Attack::IdleUnauthenticated,
        Attack::PreAuthFrames,
        Attack::LargeHooks,
        Attack::ConnectionBurst,
        Attack::FanOutStorm(100),
        Attack::FanOutStorm(400),
    ];
    for attack in attacks {
        if !only.is_empty() && !only.iter().any(|o| attack.name().contains(o.as_str())) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let daemon = Daemon::start(&bin, &dir.path().join("data"), &[]);
        let idle = daemon.usage();
        let outcome = runtime.block_on(attack.run(&daemon));
        let after = daemon.usage();
        println!(
            "{:<22} RSS {:>7} KiB idle -> {:>7} KiB after, peak {:>8} KiB; CPU {:>6} ms; {outcome}",
            attack.name(),
            idle.rss_kib,
            after.rss_kib,
            after.peak_kib,
            after.cpu_ms - idle.cpu_ms
        );
    }
}

#[derive(Clone, Copy)]
enum Attack {
    /// 1024 WebSockets that never authenticate (they answer pings); then the operator connects.
    IdleUnauthenticated,
    /// 128 connections each sending an (almost) 8 MiB frame before authenticating.
    PreAuthFrames,
    /// 100 hooks with a 4 MiB tool input each.
    LargeHooks,
    /// 2,000 authenticated connections opened, then all closed.
    ConnectionBurst,
    /// N connections × 64 event subscriptions, 50 publishes, while a bystander pings:
    /// what a fan-out costs everyone else (the bystander's p50, p99 and max).
    FanOutStorm(usize),
}

impl Attack {
    fn name(self) -> &'static str {
        match self {
            Attack::IdleUnauthenticated => "idle unauthenticated",
            Attack::PreAuthFrames => "pre-auth 8 MiB frames",
            Attack::LargeHooks => "100 hooks of 4 MiB",
            Attack::ConnectionBurst => "burst of 2000 conns",
            Attack::FanOutStorm(100) => "storm 100x64 subs",
            Attack::FanOutStorm(_) => "storm 400x64 subs",
        }
    }

    async fn run(self, daemon: &Daemon) -> String {
        match self {
            Attack::IdleUnauthenticated => {
                let mut held = Vec::new();
                let mut refused = 0;
                for _ in 0..1024 {
                    match tokio_tungstenite::connect_async(daemon.url.as_str()).await {
                        Ok((ws, _)) => held.push(ws),
                        Err(_) => refused += 1,
                    }
                }
                let started = Instant::now();
                let tcp = Client::builder(&daemon.url).token(TOKEN).connect().await;
                let tcp = match tcp {
                    Ok(client) => {
                        format!("ok in {} ms", started.elapsed().as_millis()).to_string() + &ping(&client).await
                    }
                    Err(e) => format!("refused ({e})"),
                };
                let unix = Client::builder_unix(&daemon.socket).token(TOKEN).connect().await;
                let unix = if unix.is_ok() { "ok".to_owned() } else { "refused".to_owned() };
                format!("{} held, {refused} refused; operator on TCP: {tcp}; on the Unix socket: {unix}", held.len())
            }
            Attack::PreAuthFrames => {
                let started = Instant::now();
                let frame = format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.auth\",\"params\":{{\"token\":\"{}\"}}}}",
                    "x".repeat((8 << 20) - 1024)
                );
                let tasks: Vec<_> = (0..128)
                    .map(|_| {
                        let url = daemon.url.clone();
                        let frame = frame.clone();
                        tokio::spawn(async move {
                            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url.as_str()).await else { return };
                            let _ = ws.send(frame.into()).await;
                            while let Some(Ok(_)) = futures_util::StreamExt::next(&mut ws).await {}
                        })
                    })
                    .collect();
                for task in tasks {
                    let _ = tokio::time::timeout(Duration::from_secs(120), task).await;
                }
                format!("all closed after {} ms", started.elapsed().as_millis())
            }
            Attack::LargeHooks => {
                let client = Client::builder(&daemon.url).token(TOKEN).connect().await.unwrap();
                let started = Instant::now();
                for i in 0..100 {
                    let payload = json!({"hook_event_name": "PreToolUse", "session_id": format!("s{i}"),
                        "tool_name": "Write", "tool_input": {"file_path": "/tmp/x", "content": "c".repeat(4 << 20)}});
                    client.call_raw("hooks.ingest", payload).await.unwrap();
                }
                format!("{} ms", started.elapsed().as_millis())
            }
            Attack::ConnectionBurst => {
                let mut held = Vec::new();
                for _ in 0..2000 {
                    let mut request = daemon.url.as_str().into_client_request().unwrap();
                    request.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
                    if let Ok((ws, _)) = tokio_tungstenite::connect_async(request).await {
                        held.push(ws);
                    }
                }
                let open = held.len();
                let peak = daemon.usage().rss_kib;
                for mut ws in held {
                    let _ = ws.close(None).await;
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                while daemon.connections().await > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                format!("{open} open at {peak} KiB, then all closed")
            }
            Attack::FanOutStorm(connections) => storm(daemon, connections).await,
        }
    }
}

/// The fan-out storm: every subscriber reads everything it is sent (in its own task);
/// a bystander on its own connection pings one at a time from before the first
/// publish until every subscriber has had every event (or 60 s).
async fn storm(daemon: &Daemon, connections: usize) -> String {
    const SUBSCRIPTIONS: usize = 64;
    const PUBLISHES: usize = 50;
    let delivered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..connections {
        let client = Client::builder(&daemon.url).token(TOKEN).connect().await.unwrap();
        for _ in 0..SUBSCRIPTIONS {
            client.call_raw("events.subscribe", json!({"families": ["hooks.event"]})).await.unwrap();
        }
        let delivered = delivered.clone();
        readers.push(tokio::spawn(async move {
            while let Some(n) = client.next_notification().await {
                if n.method == "events.event" {
                    delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    let publisher = Client::builder(&daemon.url).token(TOKEN).connect().await.unwrap();
    let expected = connections * SUBSCRIPTIONS * PUBLISHES;
    // The bystander is a process of its own, so the storm's readers here cannot delay it.
    let mut pinger = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--bystander", daemon.url.as_str()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(pinger.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let started = Instant::now();
    for i in 0..PUBLISHES {
        let hook = json!({"hook_event_name": "Notification", "session_id": format!("s{i}"), "message": "storm"});
        publisher.call_raw("hooks.ingest", hook).await.unwrap();
    }
    let published = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.load(std::sync::atomic::Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    drop(pinger.stdin.take());
    let mut latencies: Vec<Duration> = lines.map(|l| Duration::from_nanos(l.unwrap().parse().unwrap())).collect();
    pinger.wait().unwrap();
    for reader in readers {
        reader.abort();
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    if latencies.is_empty() {
        return "the bystander never answered".into();
    }
    format!(
        "{} of {expected} deliveries; published in {} ms, delivered in {} ms; bystander ping ({} pings) p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        delivered.load(std::sync::atomic::Ordering::Relaxed),
        published.as_millis(),
        drained.as_millis(),
        latencies.len(),
        at(0.5),
        at(0.99),
        latencies.last().unwrap().as_secs_f64() * 1e3,
    )
}

async fn ping(client: &Client) -> String {
    match client.call_raw("server.ping", json!({})).await {
        Ok(_) => ", ping ok".into(),
        Err(e) => format!(", ping failed: {e}"),
    }
}

struct Usage {
    rss_kib: u64,
    peak_kib: u64,
    cpu_ms: u64,
}

impl Daemon {
    fn usage(&self) -> Usage {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| -> u64 {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        };
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Usage { rss_kib: field("VmRSS:"), peak_kib: field("VmHWM:"), cpu_ms: ticks * 1000 / hz }
    }

    async fn connections(&self) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect(self.addr()).await else { return u64::MAX };
        let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let _ = stream.write_all(request.as_bytes()).await;
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response).await;
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(body).ok().and_then(|v| v["connections"].as_u64()).unwrap_or(u64::MAX)
    }
}

/// The bystander process: pings one at a time until its stdin closes, then prints each
/// round trip in nanoseconds, one a line.
async fn bystander(url: &str) {
    let client = Client::builder(url).token(TOKEN).connect().await.unwrap();
    client.call_raw("server.ping", json!({})).await.unwrap();
    println!("ready");
    let (close, mut closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        let _ = close.send(());
    });
    let mut latencies = Vec::new();
    loop {
        let sent = Instant::now();
        tokio::select! {
            _ = &mut closed => break,
            reply = client.call_raw("server.ping", json!({})) => { reply.unwrap(); }
        }
        latencies.push(sent.elapsed());
    }
    for latency in latencies {
        println!("{}", latency.as_nanos());
    }
}
