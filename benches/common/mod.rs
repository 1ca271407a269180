//! What the benches share: a measurement window over worker tasks, and the
//! daemon under test in a process of its own.
#![allow(dead_code)]

pub mod fanout;
pub mod peers;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Counts completed operations, only inside the measured window.
#[derive(Clone, Default)]
pub struct Meter {
    counted: Arc<AtomicU64>,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Meter {
    /// One operation completed.
    pub fn tick(&self) {
        if self.counting.load(Ordering::Relaxed) {
            self.counted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Workers loop until this turns true.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Warms up, measures for `run_for`, stops the workers and waits for them: operations per second.
    pub async fn measure(
        &self,
        workers: Vec<tokio::task::JoinHandle<()>>,
        warm_up: Duration,
        run_for: Duration,
    ) -> f64 {
        tokio::time::sleep(warm_up).await;
        self.counting.store(true, Ordering::Relaxed);
        let start = Instant::now();
        tokio::time::sleep(run_for).await;
        let n = self.counted.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        self.stop.store(true, Ordering::Relaxed);
        for worker in workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        }
        n as f64 / elapsed.as_secs_f64()
    }
}

/// The daemon under test: `TETHER_BIN` (another build, for before/after), or this one.
pub fn tether_bin() -> String {
    std::env::var("TETHER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tether").to_owned())
}

/// The token every bench's daemon runs with.
pub const TOKEN: &str = "bench-token-0123456789abcdef0123456789abcdef0123456789abcdef0123";

/// A `tether serve` in its own process on a free loopback port, with `TOKEN`;
/// killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub url: String,
    /// Its Unix socket (in the data directory).
    pub socket: PathBuf,
}

impl Daemon {
    pub fn start(bin: &str, data: &Path, extra: &[&str]) -> Daemon {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .env("TETHER_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_owned();
        Daemon { child, url, socket: data.join("tether.sock") }
    }

    /// `host:port` of its TCP listener.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("ws://")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each run on its own connection: a proposal of one tool call, answered at once, in a loop.
pub async fn turns_per_second(url: &str, runs: usize, journalled: bool) -> f64 {
    let meter = Meter::default();
    let mut tasks = Vec::new();
    for r in 0..runs {
        let client = tether_client::Client::builder(url)
            .token(TOKEN)
            .on_request("tools.execute", |p: Value| async move { Ok(p["parameters"].clone()) })
            .connect()
            .await
            .unwrap();
        client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
        if journalled {
            client.call_raw("runs.start", json!({"intent": "bench", "agent_id": format!("bench-{r}")})).await.unwrap();
        }
        let meter = meter.clone();
        tasks.push(tokio::spawn(async move {
            let proposal =
                json!({"proposal": {"actions": [{"type": "tool_call", "tool": "echo", "parameters": {"x": 1}}]}});
            while !meter.stopped() {
                client.call_raw("proposal.submit", proposal.clone()).await.unwrap();
                meter.tick();
            }
        }));
    }
    meter.measure(tasks, Duration::from_millis(500), Duration::from_secs(3)).await
}

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A connection with small client buffers: authenticated and past the
/// handshake for tether, plain for the peers.
pub async fn ws(server: &peers::Server) -> Ws {
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

pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        if let Message::Text(text) = ws.next().await.unwrap().unwrap() {
            return text.to_string();
        }
    }
}
