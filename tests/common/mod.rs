//! Shared test harness: an in-process server on real sockets, raw WebSocket
//! helpers for bad input, and the real binary for restarts and signals.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tether_client::{Client, ClientBuilder};
use tether_core::{CallError, ConnectionConfig, Context, Registry, RpcError, StaticToken};
use tether_runs::RunsConfig;
use tether_server::{Server, ServerConfig};
use tether_store::{Fsync, JournalOptions, RealFsync};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous bound for things that should happen "at once"; a hang fails instead of blocking CI.
pub const PATIENCE: Duration = Duration::from_secs(10);

tether_proto::method!(TestSleep, "test.sleep", Value => Value, "Sleeps params.ms, then answers it.");
tether_proto::method!(TestCallback, "test.callback", Value => Value, "Calls the client back and answers with its reply.");
tether_proto::method!(TestPublish, "test.publish", Value => Value, "Publishes params.count events of params.bytes each.");
tether_proto::method!(TestFlood, "test.flood", Value => Value, "Sends params.count notifications of params.bytes each.");
tether_proto::method!(TestPanic, "test.panic", Value => Value, "Panics while holding the event bus's lock.");

/// The built-in registry plus throwaway methods that exercise the dispatcher.
/// `test.callback` reports how each of its calls ended on `probe`.
pub fn add_test_methods(
    registry: &mut Registry,
    probe: broadcast::Sender<Value>,
    events: Arc<tether_events::EventBus>,
) {
    let bus = events.clone();
    registry.register::<TestPanic, _, _>(move |_cx, _params| {
        let bus = bus.clone();
        async move { bus.while_locked(|| panic!("a handler bug")) }
    });
    registry.register::<TestPublish, _, _>(move |_cx, params| {
        let events = events.clone();
        async move {
            let pad = "e".repeat(params["bytes"].as_u64().unwrap_or(0) as usize);
            for i in 0..params["count"].as_u64().unwrap_or(1) {
                events.publish_untyped("hooks.event", "test.burst", Default::default(), json!({"i": i, "pad": pad}));
            }
            Ok(json!("published"))
        }
    });
    registry.register::<TestSleep, _, _>(|_cx, params| async move {
        let ms = params["ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(json!(ms))
    });
    registry.register::<TestCallback, _, _>(move |cx: Context, params| {
        let probe = probe.clone();
        async move {
            let method = params["method"].as_str().unwrap_or("test.echo").to_owned();
            let timeout = Duration::from_millis(params["timeout_ms"].as_u64().unwrap_or(5_000));
            let outcome = cx.call(&method, params["params"].clone(), timeout).await;
            let _ = probe.send(match &outcome {
                Ok(value) => json!({"ok": value}),
                Err(CallError::Timeout { .. }) => json!({"error": "timeout"}),
                Err(CallError::Disconnected { .. }) => json!({"error": "disconnected"}),
                Err(CallError::Remote { error, .. }) => {
                    json!({"error": "remote", "code": error.code})
                }
            });
            Ok(outcome?)
        }
    });
    registry.register::<TestFlood, _, _>(|cx: Context, params| async move {
        let blob = "x".repeat(params["bytes"].as_u64().unwrap_or(1024) as usize);
        for i in 0..params["count"].as_u64().unwrap_or(1) {
            cx.notify("test.flooded", &json!({"i": i, "blob": blob}))
                .await
                .map_err(|e| RpcError::Internal(e.to_string()))?;
        }
        Ok(json!("flooded"))
    });
}

/// What a test may change about the in-process server beyond its `ServerConfig`.
pub struct Setup {
    pub fsync: Arc<dyn Fsync>,
    pub runs: RunsConfig,
    pub journal: JournalOptions,
    pub sessions: tether_sessions::SessionsConfig,
    pub events: tether_events::EventsConfig,
    pub hooks: tether_hooks::HooksConfig,
    pub clock: Arc<dyn tether_hooks::Clock>,
    /// Runs kept in PostgreSQL instead of the journal.
    pub store: Option<tether_pg::PgOptions>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            fsync: Arc::new(RealFsync),
            runs: RunsConfig::default(),
            journal: JournalOptions::default(),
            sessions: Default::default(),
            events: Default::default(),
            hooks: Default::default(),
            clock: Arc::new(tether_hooks::SystemClock),
            store: None,
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    pub socket: PathBuf,
    pub token: String,
    /// Where the server keeps its journal (`<data_dir>/journal`).
    pub data_dir: PathBuf,
    probe: broadcast::Sender<Value>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        Self::start_setup(Setup::default(), tune).await
    }

    pub async fn start_setup(setup: Setup, tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let domains = tether::Domains {
            runs: setup.runs,
            journal: setup.journal,
            sessions: setup.sessions,
            events: setup.events,
            hooks: setup.hooks,
            console: Default::default(),
            store: setup.store,
            ..Default::default()
        };
        let assembly = tether::assemble_with_clock(dir.path(), &domains, setup.fsync, setup.clock).await.unwrap();
        let events = assembly.events.clone();
        let token = tether_server::token::generate().unwrap();
        let socket = dir.path().join("run").join("tether.sock");
        let mut config = ServerConfig {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            socket: Some(socket.clone()),
            authenticator: Some(Arc::new(StaticToken::new(token.clone()))),
            allow_remote: false,
            allowed_origins: Vec::new(),
            connection: ConnectionConfig::default(),
            hooks: Some(Arc::new(tether::HooksOverHttp(assembly.hooks.clone()))),
            mcp: Some(assembly.mcp(Default::default())),
            health: Some(assembly.health()),
            metrics: Some(assembly.metrics()),
            metrics_auth: true,
            console: None,
            tls: None,
        };
        tune(&mut config);
        config.authenticator = config.authenticator.map(|operator| assembly.authenticator(operator));
        let probe = broadcast::channel(64).0;
        let sessions = assembly.sessions.clone();
        let daemon_url = assembly.daemon_url.clone();
        let mut registry = assembly.registry;
        add_test_methods(&mut registry, probe.clone(), events);
        let server = Server::bind(config, registry).await.unwrap();
        let addr = server.local_addr().unwrap();
        sessions.set_daemon_url(format!("ws://{addr}"));
        let _ = daemon_url.set(format!("ws://{addr}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            url: format!("ws://{addr}"),
            socket,
            token,
            data_dir: dir.path().to_owned(),
            probe,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    /// Reports of how `test.callback` calls ended, from now on.
    pub fn probe(&self) -> broadcast::Receiver<Value> {
        self.probe.subscribe()
    }

    pub fn client(&self) -> ClientBuilder {
        Client::builder(&self.url).token(&self.token)
    }

    pub async fn connect(&self) -> Client {
        self.client().connect().await.unwrap()
    }

    /// A raw WebSocket with no frames sent yet.
    pub async fn raw(&self) -> Ws {
        tokio_tungstenite::connect_async(&self.url).await.unwrap().0
    }

    /// A raw WebSocket that has authenticated and completed the handshake.
    pub async fn raw_session(&self) -> Ws {
        let mut ws = self.raw().await;
        let auth =
            rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token": self.token}})).await;
        assert_eq!(auth["result"]["ok"], true, "{auth}");
        let hs = rpc(
            &mut ws,
            json!({"jsonrpc":"2.0","id":"hs","method":"server.handshake","params":{"protocol_version":3}}),
        )
        .await;
        assert_eq!(hs["result"]["protocol_version"], 3, "{hs}");
        ws
    }

    /// Upgrades with extra headers and returns the HTTP status (101 on success).
    pub async fn upgrade_status(&self, headers: &[(&'static str, &str)]) -> u16 {
        let mut request = self.url.as_str().into_client_request().unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(*name, value.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((_, response)) => response.status().as_u16(),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
            Err(e) => panic!("upgrade failed without an HTTP status: {e}"),
        }
    }

    pub async fn healthz(&self) -> Value {
        http_get(self.addr, "/healthz").await.1
    }

    /// Waits until the server counts exactly `n` open WebSocket connections.
    pub async fn wait_for_connections(&self, n: u64) {
        wait_until(&format!("the server counts {n} connections"), async || self.healthz().await["connections"] == n)
            .await;
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(PATIENCE, &mut self.task).await.expect("server stops").unwrap();
    }
}

/// Polls `done` until it holds; fails the test after `PATIENCE`.
pub async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A raw HTTP/1.1 GET; returns the status and the body parsed as JSON (or as a string).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, Value) {
    http_raw(addr, format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")).await
}

/// Sends one raw request, reads the whole response: its status and its body as JSON (or text).
pub async fn http_raw(addr: SocketAddr, request: String) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned())))
}

pub async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::Text(value.to_string().into())).await.unwrap();
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(Utf8Bytes::from(text.to_owned()))).await.unwrap();
}

/// The next text frame as JSON, skipping pings and pongs.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await.expect("a reply in time");
        match message.expect("the connection stays open").expect("a valid frame") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

pub async fn rpc(ws: &mut Ws, request: Value) -> Value {
    send(ws, request).await;
    recv(ws).await
}

/// Reads until the server closes; returns its close frame (skipping anything before it).
pub async fn close_frame(ws: &mut Ws) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("the server closes in time") {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// The real `tether` binary, run with its own data directory.
pub struct Daemon {
    pub child: Child,
    pub url: String,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Daemon {
    /// Runs the daemon with `<dir>/data` as its data directory and `<dir>/stderr.log` for its logs.
    pub fn spawn(dir: &std::path::Path, extra: &[&str]) -> Daemon {
        Self::spawn_env(dir, extra, &[])
    }

    pub fn spawn_env(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        use std::io::BufRead;
        let data_dir = dir.join("data");
        let log = dir.join("stderr.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env_remove("TETHER_TOKEN")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("tether listening on ") else {
            panic!("no readiness line; stderr: {}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        let url = url.to_owned();
        let addr = url.split_once("://").expect("a URL").1.parse().unwrap();
        Daemon { child, url, addr, data_dir }
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("auth-token")).unwrap().trim().to_owned()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

/// A harness on `daemon` (the operator) with one tool, `echo`, which answers its
/// parameters; `capabilities` are negotiated in the handshake.
pub async fn echo_harness(daemon: &Daemon, capabilities: &[&str]) -> Client {
    let mut builder = Client::builder(&daemon.url)
        .token(daemon.token())
        .on_request("tools.execute", |params: Value| async move { Ok(params["parameters"].clone()) });
    for capability in capabilities {
        builder = builder.optional_capability(*capability);
    }
    let client = builder.connect().await.unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    client
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebSocket peer on a bare TCP socket that reads server frames but never
/// answers a ping: a truly silent client.
pub struct SilentPeer(TcpStream);

impl SilentPeer {
    pub async fn connect(server: &TestServer) -> SilentPeer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let head = format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer {}\r\n\r\n",
            server.token
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        while !response.ends_with(b"\r\n\r\n") {
            response.push(stream.read_u8().await.unwrap());
        }
        assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
        SilentPeer(stream)
    }

    /// Reads server frames until a Close; returns its code and reason.
    pub async fn close_frame(&mut self) -> (u16, String) {
        use tokio::io::AsyncReadExt;
        loop {
            let header = self.0.read_u16().await.expect("a frame before EOF");
            let opcode = (header >> 8) & 0x0f;
            let len = match header & 0x7f {
                126 => self.0.read_u16().await.unwrap() as usize,
                127 => self.0.read_u64().await.unwrap() as usize,
                n => n as usize,
            };
            let mut payload = vec![0; len];
            self.0.read_exact(&mut payload).await.unwrap();
            if opcode == 0x8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8_lossy(&payload[2..]).into_owned());
            }
        }
    }
}

/// A clock tests move by hand: breaker cooldowns without sleeping.
pub struct ManualClock {
    base: std::time::Instant,
    offset: std::sync::Mutex<Duration>,
}

impl ManualClock {
    pub fn new() -> Arc<ManualClock> {
        Arc::new(ManualClock { base: std::time::Instant::now(), offset: Default::default() })
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
}

impl tether_hooks::Clock for ManualClock {
    fn now(&self) -> std::time::Instant {
        self.base + *self.offset.lock().unwrap()
    }
}

/// A raw HTTP/1.1 POST with a JSON body; returns the status and the body as JSON (or text).
pub async fn http_post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_raw(addr, request).await
}

/// `toml` written as the config file `tether.toml` in `dir`: its path, for `--config`.
pub fn config_file(dir: &std::path::Path, toml: &str) -> String {
    let path = dir.join("tether.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_str().unwrap().to_owned()
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/claude/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn policy_fixture() -> std::path::PathBuf {
    format!("{}/tests/fixtures/policy.toml", env!("CARGO_MANIFEST_DIR")).into()
}

/// Fails `fdatasync` while its flag is set.
pub struct Flaky(pub std::sync::atomic::AtomicBool);

impl Fsync for Flaky {
    fn sync(&self, file: &std::fs::File) -> std::io::Result<()> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("injected fdatasync failure"));
        }
        file.sync_data()
    }
}

/// An `fdatasync` a test holds: once armed, the next sync says it began and waits for
/// `release` (a turn held between its write and its sync).
#[derive(Default)]
pub struct Held {
    armed: std::sync::atomic::AtomicBool,
    /// (a held sync began, the test let it go)
    state: std::sync::Mutex<(bool, bool)>,
    released: std::sync::Condvar,
}

impl Held {
    pub fn arm(&self) {
        self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn entered(&self) -> bool {
        self.state.lock().unwrap().0
    }

    pub fn release(&self) {
        self.state.lock().unwrap().1 = true;
        self.released.notify_all();
    }
}

impl Fsync for Held {
    fn sync(&self, file: &std::fs::File) -> std::io::Result<()> {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            while !state.1 {
                state = self.released.wait(state).unwrap();
            }
        }
        file.sync_data()
    }
}
