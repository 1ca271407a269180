//! The front door's pools cannot be held against the operator or the shipped clients:
//! a TCP flood never touches the Unix socket's pools, and every client tether ships
//! authenticates at the upgrade (headers, or a subprotocol for a browser), so it never
//! waits in the unauthenticated pool strangers can fill. Also: the Host check and
//! `POST /hooks` framing, over a real socket.

mod common;

use common::*;
use data_encoding::BASE64URL_NOPAD;
use serde_json::json;
use tether_client::{AuthMode, Client};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Holds every place in the TCP pending pool with sockets that never send a head, and
/// returns them once a further TCP socket is closed at once (the pool is full: the
/// listener accepts in order, so the earlier ones were counted first).
async fn hold_tcp_pending(server: &TestServer, max: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(max);
    for _ in 0..max {
        held.push(TcpStream::connect(server.addr).await.unwrap());
    }
    assert_tcp_pending_full(server).await;
    held
}

async fn assert_tcp_pending_full(server: &TestServer) {
    let mut probe = TcpStream::connect(server.addr).await.unwrap();
    let read = tokio::time::timeout(PATIENCE, probe.read(&mut [0u8; 1])).await.expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "one more TCP socket is closed without a word: the pool is full");
}

#[tokio::test]
async fn a_tcp_flood_of_silent_sockets_never_refuses_the_operator_on_the_unix_socket() {
    const MAX: usize = 16;
    let server = TestServer::start_with(|c| {
        c.connection.limits.max_pending_upgrades = MAX;
        c.connection.limits.max_unauthenticated = 4;
        // The flood outlives the test, so only the pools, not the deadlines, are tested.
        c.connection.limits.head_timeout_ms = 120_000;
        c.connection.limits.auth_timeout_ms = 120_000;
    })
    .await;
    // The unauthenticated TCP pool is held too: frame auth over Unix has its own.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(server.raw().await);
    }
    wait_until("four wait to authenticate", async || server.healthz().await["unauthenticated"] == 4).await;
    let flood = hold_tcp_pending(&server, MAX).await;

    let mut connected = 0;
    for i in 0..32 {
        let mode = if i % 4 == 0 { AuthMode::Frame } else { AuthMode::Header };
        let operator = Client::builder_unix(&server.socket).token(&server.token).auth_mode(mode).connect().await;
        let operator = operator.unwrap_or_else(|e| panic!("connect {i} over the Unix socket ({mode:?}): {e}"));
        assert_eq!(operator.call_raw("server.ping", json!({})).await.unwrap(), "pong");
        connected += 1;
    }
    assert_eq!(connected, 32);
    assert_tcp_pending_full(&server).await;
    drop(flood);

    // Each transport's pending sockets are counted under its own label.
    let operator = Client::builder_unix(&server.socket).token(&server.token).connect().await.unwrap();
    drop(operator);
    let held = hold_tcp_pending(&server, MAX).await;
    let metrics = unix_get(&server, "/metrics").await;
    let pending = |transport: &str| format!("tether_connections{{state=\"pending\",transport=\"{transport}\"}} ");
    let line = |transport: &str| metrics.lines().find(|l| l.starts_with(&pending(transport))).map(str::to_owned);
    assert_eq!(line("tcp"), Some(format!("{}{MAX}", pending("tcp"))), "{metrics}");
    assert!(line("unix").is_some(), "{metrics}");
    drop(held);
}

/// A GET over the Unix socket with the operator's token; the response body.
async fn unix_get(server: &TestServer, path: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::UnixStream::connect(&server.socket).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

#[tokio::test]
async fn with_the_unauthenticated_pool_held_agents_bind_themselves_at_the_upgrade() {
    let server = TestServer::start_with(|c| c.connection.limits.max_unauthenticated = 8).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(server.raw().await);
    }
    wait_until("eight wait to authenticate", async || server.healthz().await["unauthenticated"] == 8).await;
    assert_eq!(server.upgrade_status(&[]).await, 503, "the pool is held");
    let frame = server.client().agent_id("framed").auth_mode(AuthMode::Frame).connect().await;
    assert!(frame.is_err(), "frame auth needs a place in the held pool");

    let mut agents = Vec::new();
    for i in 0..40 {
        let agent = server.client().agent_id(format!("agent-{i}")).connect().await;
        agents.push(agent.unwrap_or_else(|e| panic!("agent {i}: {e}")));
    }
    let run = agents[7].call_raw("runs.start", json!({"intent": "who am I"})).await.unwrap();
    assert_eq!(run["agent_id"], "agent-7", "X-Tether-Agent binds the connection");
    assert_eq!(server.healthz().await["connections"], 40);
}

/// An upgrade the way a browser makes it: the credential (and agent) as subprotocol
/// values. tungstenite, like a browser, fails the handshake unless the server selects
/// one of the offered protocols. Ok: the socket and the selected protocol.
pub async fn browser_upgrade(url: &str, protocols: &str) -> Result<(Ws, String), u16> {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => {
            let selected = response.headers().get("sec-websocket-protocol").expect("a protocol is selected");
            Ok((ws, selected.to_str().unwrap().to_owned()))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

fn b64(text: &str) -> String {
    BASE64URL_NOPAD.encode(text.as_bytes())
}

#[tokio::test]
async fn a_browser_authenticates_with_a_subprotocol_while_the_unauthenticated_pool_is_held() {
    let server = TestServer::start_with(|c| c.connection.limits.max_unauthenticated = 2).await;
    let _idle = [server.raw().await, server.raw().await];
    wait_until("two wait to authenticate", async || server.healthz().await["unauthenticated"] == 2).await;

    let protocols = format!("tether.v1, tether.bearer.{}, tether.agent.{}", b64(&server.token), b64("browser"));
    let (mut ws, selected) = browser_upgrade(&server.url, &protocols).await.expect("authenticated at the upgrade");
    assert_eq!(selected, "tether.v1");
    let handshake = json!({"jsonrpc": "2.0", "id": 1, "method": "server.handshake", "params": {"protocol_version": 3}});
    assert!(rpc(&mut ws, handshake).await["result"].is_object(), "no session.auth needed");
    let start = json!({"jsonrpc": "2.0", "id": 2, "method": "runs.start", "params": {"intent": "from a page"}});
    assert_eq!(rpc(&mut ws, start).await["result"]["agent_id"], "browser");

    let bare = format!("tether.bearer.{}", b64(&server.token));
    assert_eq!(browser_upgrade(&server.url, &bare).await.err(), Some(400), "tether.v1 must be offered too");
    let wrong = format!("tether.v1, tether.bearer.{}", b64("not the token"));
    assert_eq!(browser_upgrade(&server.url, &wrong).await.err(), Some(401));
    assert_eq!(browser_upgrade(&server.url, "tether.v1").await.err(), Some(503), "no credential: the held pool");
}

#[tokio::test]
async fn an_agent_header_needs_a_token_and_a_session_token_keeps_its_own_agent() {
    let server = TestServer::start().await;
    let token = format!("Bearer {}", server.token);
    assert_eq!(server.upgrade_status(&[("x-tether-agent", "alice")]).await, 401, "an agent needs a token");
    assert_eq!(server.upgrade_status(&[("authorization", &token), ("x-tether-agent", "")]).await, 400);
    assert_eq!(server.upgrade_status(&[("authorization", &token), ("x-tether-agent", "alice")]).await, 101);
}

#[tokio::test]
async fn the_host_check_parses_the_authority() {
    let server = TestServer::start().await;
    for host in
        ["[::1]evil.example", "127.0.0.1.evil.example", "localhost:80@evil", "user@localhost", "localhost:99999"]
    {
        assert_eq!(server.upgrade_status(&[("host", host)]).await, 403, "{host}");
    }
    for host in ["[::1]:9100", "localhost", "127.0.0.1:9100"] {
        assert_eq!(server.upgrade_status(&[("host", host)]).await, 101, "{host}");
    }
}

#[tokio::test]
async fn post_hooks_refuses_ambiguous_body_framing() {
    let server = TestServer::start().await;
    let body = fixture("Notification").to_string();
    let body = body.as_str();
    let post = |framing: String| {
        format!(
            "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n{framing}Connection: close\r\n\r\n{body}",
            server.token
        )
    };
    let n = body.len();
    assert_eq!(http_raw(server.addr, post(format!("Content-Length: {n}\r\n"))).await.0, 200);
    for framing in [
        format!("Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n"),
        format!("Transfer-Encoding: chunked\r\nContent-Length: {n}\r\n"),
        format!("Content-Length: {n}\r\nContent-Length: {n}\r\n"),
        format!("Content-Length: +{n}\r\n"),
        "Content-Length: -1\r\n".to_owned(),
        "Content-Length: 1 2\r\n".to_owned(),
    ] {
        let (status, answer) = http_raw(server.addr, post(framing.clone())).await;
        assert_eq!(status, 400, "{framing:?}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("ambiguous body framing"), "{answer}");
    }
}
