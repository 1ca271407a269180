//! The Unix socket, keepalive, and the HTTP endpoints of the TCP port.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use tether_client::{AuthMode, Client};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn the_unix_socket_speaks_the_same_protocol_and_is_private() {
    let server = TestServer::start().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.socket), 0o600);
    assert_eq!(mode(server.socket.parent().unwrap()), 0o700);
    for auth in [AuthMode::Frame, AuthMode::Header] {
        let client = Client::builder_unix(&server.socket).token(&server.token).auth_mode(auth).connect().await.unwrap();
        assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    }
    let unauthenticated = Client::builder_unix(&server.socket).connect().await;
    assert!(unauthenticated.is_err(), "auth applies on the Unix socket too");
}

#[tokio::test]
async fn a_world_readable_socket_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = tether_server::ServerConfig {
        listen: None,
        socket: Some(dir.path().join("tether.sock")),
        authenticator: None,
        allow_remote: false,
        allowed_origins: vec![],
        connection: Default::default(),
        hooks: None,
        mcp: None,
        health: None,
        metrics: None,
        metrics_auth: true,
        console: None,
        tls: None,
    };
    let err = tether_server::Server::bind(config, tether_core::Registry::new()).await.err().unwrap();
    assert!(err.to_string().contains("accessible by others"), "{err}");
}

#[tokio::test]
async fn the_server_pings_an_idle_connection() {
    let server = TestServer::start_with(|c| {
        c.connection.keepalive.interval_ms = 50;
        c.connection.keepalive.timeout_ms = 60_000;
    })
    .await;
    let mut ws = server.raw_session().await;
    let ping = loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Ping(payload) => break payload,
            _ => continue,
        }
    };
    assert!(ping.is_empty());
}

#[tokio::test]
async fn a_silent_peer_is_closed_after_the_keepalive_timeout() {
    let server = TestServer::start_with(|c| {
        c.connection.keepalive.interval_ms = 50;
        c.connection.keepalive.timeout_ms = 200;
    })
    .await;
    let mut peer = SilentPeer::connect(&server).await;
    let (code, reason) = peer.close_frame().await;
    assert_eq!(code, 1001);
    assert!(reason.contains("keepalive"), "{reason}");
    server.wait_for_connections(0).await;
}

#[tokio::test]
async fn a_peer_that_answers_pings_stays_open() {
    let server = TestServer::start_with(|c| {
        c.connection.keepalive.interval_ms = 50;
        c.connection.keepalive.timeout_ms = 1_000;
    })
    .await;
    let client = server.connect().await;
    // Reading (which answers pings) across three timeouts keeps the connection.
    let mut pings = 0;
    let mut ws = server.raw_session().await;
    while pings < 60 {
        if let Message::Ping(_) = tokio::time::timeout(PATIENCE, ws.next()).await.unwrap().unwrap().unwrap() {
            pings += 1;
        }
    }
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong", "60 pings = 3 s, three timeouts, and still open");
}

#[tokio::test]
async fn healthz_reports_status_version_uptime_and_connections() {
    let server = TestServer::start().await;
    let _client = server.connect().await;
    let (status, body) = http_get(server.addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_s"].is_u64());
    assert_eq!(body["connections"], 1);
}

#[tokio::test]
async fn stopping_the_server_closes_connections_with_1001() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    let client = server.connect().await;
    server.stop().await;
    assert_eq!(close_frame(&mut ws).await.unwrap().code, CloseCode::Away);
    tokio::time::timeout(PATIENCE, client.closed()).await.unwrap();
}
