//! The front door cannot be held: deadlines, separate pools for connections that
//! have not authenticated, and a small byte budget before authentication.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tether_client::{AuthMode, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn a_connection_that_never_authenticates_is_closed_at_the_deadline() {
    let server = TestServer::start_with(|c| c.connection.limits.auth_timeout_ms = 300).await;
    let mut ws = server.raw().await;
    let started = std::time::Instant::now();
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(frame.reason.contains("limits.auth_timeout_ms"), "{}", frame.reason);
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the deadline");
    wait_until("the connection leaves the pool", async || server.healthz().await["unauthenticated"] == 0).await;
}

#[tokio::test]
async fn a_connection_that_never_completes_the_handshake_is_closed_at_its_deadline() {
    let server = TestServer::start_with(|c| c.connection.limits.handshake_timeout_ms = 300).await;
    // Opened first, and handshaken: its deadline passes before the other's.
    let kept = server.connect().await;
    let client = server.client().skip_handshake().connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong", "authenticated meanwhile");
    tokio::time::timeout(PATIENCE, client.closed()).await.expect("closed at the handshake deadline");
    // By now the kept connection's own deadline has passed too: completing the handshake keeps it.
    assert_eq!(kept.call_raw("server.ping", json!({})).await.unwrap(), "pong");
}

#[tokio::test]
async fn with_the_unauthenticated_pool_full_the_operator_still_connects_on_tcp_and_unix() {
    let server = TestServer::start_with(|c| c.connection.limits.max_unauthenticated = 4).await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(server.raw().await); // they answer pings, as every WebSocket library does
    }
    wait_until("four wait to authenticate", async || server.healthz().await["unauthenticated"] == 4).await;
    assert_eq!(server.upgrade_status(&[]).await, 503, "a fifth must wait its turn");
    let frame_auth = server.client().auth_mode(AuthMode::Frame).connect().await;
    assert!(frame_auth.is_err(), "authenticating by frame needs a place in the full pool");

    let tcp = server.client().auth_mode(AuthMode::Header).connect().await.unwrap();
    assert_eq!(tcp.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    let unix = Client::builder_unix(&server.socket).token(&server.token).auth_mode(AuthMode::Header);
    let unix = unix.connect().await.unwrap();
    assert_eq!(unix.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    assert_eq!(server.healthz().await["connections"], 2);

    // Once one idle client authenticates, it leaves the pool and makes room.
    let mut first = idle.remove(0);
    let auth = json!({"jsonrpc":"2.0","id":1,"method":"session.auth","params":{"token": server.token}});
    assert_eq!(rpc(&mut first, auth).await["result"]["ok"], true);
    assert_eq!(server.healthz().await["unauthenticated"], 3);
    assert_eq!(server.upgrade_status(&[]).await, 101);
}

#[tokio::test]
async fn a_large_frame_before_authentication_is_refused_without_being_read_whole() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"session.auth\",\"params\":{{\"token\":\"{}\"}}}}",
        "x".repeat((8 << 20) - 1024)
    );
    // The server stops reading after its budget, so the send itself may fail: that is the point.
    let sender = tokio::spawn(async move {
        let _ = futures_util::SinkExt::send(&mut ws, huge.into()).await;
        ws
    });
    let mut ws = tokio::time::timeout(PATIENCE, sender).await.expect("the send ends").unwrap();
    // The close frame can be lost to a reset of the half-sent message; when it arrives, it says why.
    if let Some(frame) = close_frame(&mut ws).await {
        assert_eq!(frame.code, CloseCode::Size);
        assert!(frame.reason.contains("limits.max_preauth_bytes"), "{}", frame.reason);
    }
    server.wait_for_connections(0).await;
    wait_until("the connection leaves the pool", async || server.healthz().await["unauthenticated"] == 0).await;
    // After authentication, the message cap is the usual one.
    let client = server.connect().await;
    let big = json!({"pad": "y".repeat(1 << 20)});
    assert!(client.call_raw("server.ping", big).await.is_ok());
}

#[tokio::test]
async fn a_pre_auth_frame_over_the_budget_is_not_parsed() {
    // Below the transport budget, above the frame cap: refused by size before parsing.
    let server = TestServer::start_with(|c| c.connection.limits.max_preauth_bytes = 1024).await;
    let mut ws = server.raw().await;
    send_text(&mut ws, &format!("[{}]", "1,".repeat(600) + "1")).await;
    let frame = close_frame(&mut ws).await.expect("a close frame");
    assert_eq!(frame.code, CloseCode::Size);
    assert!(frame.reason.contains("limits.max_preauth_bytes"), "{}", frame.reason);
}

#[tokio::test]
async fn sockets_that_never_send_a_head_are_capped_and_dropped_at_their_deadline() {
    let server = TestServer::start_with(|c| {
        c.connection.limits.max_pending_upgrades = 2;
        c.connection.limits.head_timeout_ms = 400;
    })
    .await;
    let mut silent = [TcpStream::connect(server.addr).await.unwrap(), TcpStream::connect(server.addr).await.unwrap()];
    // Both are counted before a third arrives: wait until the server has accepted them.
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, third.read(&mut byte)).await.expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "a third socket is closed without a word");
    for socket in &mut silent {
        let read = tokio::time::timeout(PATIENCE, socket.read(&mut byte)).await.expect("dropped at the deadline");
        assert!(matches!(read, Ok(0) | Err(_)));
    }
    // With room again, a real client gets in.
    let client = server.connect().await;
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
    let mut late = TcpStream::connect(server.addr).await.unwrap();
    late.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    late.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

#[test]
fn the_daemon_raises_its_open_file_limit_and_says_so() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let log = dir.path().join("stderr.log");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .env_remove("TETHER_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: getrlimit/setrlimit are async-signal-safe; only this child's limit changes.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = 256.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert!(line.starts_with("tether listening on"), "{line}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let row = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<&str> = row.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft raised to hard: {row}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("open-file limit") && logged.contains("was=256"), "{logged}");
}
