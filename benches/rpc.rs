//! Front-door benchmark: tether's `server.ping` against a raw tokio-tungstenite
//! echo server measured in the same run, so the ratios mean something on a noisy
//! machine. Run with `cargo bench --bench rpc`.
//!
//! Both servers run as child processes (the echo server is this binary re-run
//! with `__echo_server`), so their resident memory can be read per connection.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Meter;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

mod common;

const TOKEN: &str = "bench-token-0123456789abcdef0123456789abcdef0123456789abcdef0123";
const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"server.ping"}"#;
const RUN_FOR: Duration = Duration::from_secs(2);
const WARM_UP: Duration = Duration::from_millis(500);
const IDLE_CONNECTIONS: usize = 10_000;

fn main() {
    if std::env::args().any(|a| a == "__echo_server") {
        return echo_server();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let tether = Server::tether();
        let echo = Server::echo();

        // Alternating rounds, median of each: a burst of noise cannot favour one side.
        let (mut ts, mut es) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            ts.push(throughput(&tether, 16, 32).await);
            es.push(throughput(&echo, 16, 32).await);
        }
        let (t, e) = (median(ts), median(es));
        println!(
            "throughput 16 conn x 32 in flight: tether {t:.0} req/s | raw echo {e:.0} msg/s | ratio {:.2} (target >= 0.90)",
            t / e
        );
        let (t, e) = latency(&tether, &echo).await;
        println!(
            "latency 1 conn x 1 in flight: tether p50 {:.1} us p99 {:.1} us | raw echo p50 {:.1} us p99 {:.1} us | p99 ratio {:.2} (target <= 1.20)",
            t.0,
            t.1,
            e.0,
            e.1,
            t.1 / e.1
        );
        let t = idle_memory(&tether).await;
        let e = idle_memory(&echo).await;
        println!(
            "memory {IDLE_CONNECTIONS} idle connections: tether {t:.1} KiB/conn (target <= 20) | raw echo, default buffers {e:.1} KiB/conn"
        );
    });
}

struct Server {
    child: Child,
    url: String,
    handshake: bool,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    fn tether() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let config = dir.path().join("tether.toml");
        std::fs::write(&config, format!("[limits]\nmax_connections = {}\n", IDLE_CONNECTIONS + 100)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .env("TETHER_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let url = read_url(&mut child);
        Server { child, url, handshake: true, _dir: Some(dir) }
    }

    fn echo() -> Server {
        let mut child =
            Command::new(std::env::current_exe().unwrap()).arg("__echo_server").stdout(Stdio::piped()).spawn().unwrap();
        let url = read_url(&mut child);
        Server { child, url, handshake: false, _dir: None }
    }

    fn rss_kib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// An authenticated connection that has completed the handshake (tether) or
    /// a plain one (echo), with small client buffers.
    async fn connect(&self) -> Ws {
        let mut request = self.url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        let config = WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await.unwrap();
        if self.handshake {
            let hs = r#"{"jsonrpc":"2.0","id":0,"method":"server.handshake","params":{"protocol_version":3}}"#;
            ws.send(Message::Text(hs.into())).await.unwrap();
            next_text(&mut ws).await;
        }
        ws
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn read_url(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line.trim().rsplit(' ').next().unwrap().to_owned()
}

async fn next_text(ws: &mut Ws) {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(_) => return,
            _ => continue,
        }
    }
}

/// Messages answered per second with `connections` × `depth` requests kept in flight.
async fn throughput(server: &Server, connections: usize, depth: usize) -> f64 {
    let meter = Meter::default();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let ws = server.connect().await;
        let meter = meter.clone();
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            for _ in 0..depth {
                tx.feed(Message::Text(PING.into())).await.unwrap();
            }
            tx.flush().await.unwrap();
            while let Some(Ok(message)) = rx.next().await {
                if !message.is_text() {
                    continue;
                }
                meter.tick();
                if meter.stopped() {
                    break;
                }
                tx.send(Message::Text(PING.into())).await.unwrap();
            }
        }));
    }
    meter.measure(tasks, WARM_UP, RUN_FOR).await
}

/// p50 and p99 round trips in microseconds, one request at a time. The two
/// servers take turns in short rounds, so a burst of machine noise lands on both.
async fn latency(tether: &Server, echo: &Server) -> ((f64, f64), (f64, f64)) {
    let mut connections = [tether.connect().await, echo.connect().await];
    let mut samples = [Vec::new(), Vec::new()];
    for round in 0..44 {
        for (ws, samples) in connections.iter_mut().zip(samples.iter_mut()) {
            for _ in 0..500 {
                let start = Instant::now();
                ws.send(Message::Text(PING.into())).await.unwrap();
                next_text(ws).await;
                if round >= 4 {
                    samples.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
        }
    }
    let [t, e] = samples.map(|mut s| {
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (s[s.len() / 2], s[s.len() * 99 / 100])
    });
    (t, e)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Server resident memory added per idle, authenticated connection.
async fn idle_memory(server: &Server) -> f64 {
    // One connection first, so one-time allocations do not count per connection.
    let first = server.connect().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss_kib();
    let mut idle = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        idle.push(server.connect().await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    drop(idle);
    drop(first);
    (after - before) / IDLE_CONNECTIONS as f64
}

/// The baseline: tokio-tungstenite with its defaults, echoing every text frame.
fn echo_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        println!("echo listening on ws://{addr}");
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else { return };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_text() && ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}
