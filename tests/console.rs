//! The web console's door, against the real binary: `tether console` mints a single-use
//! code, the page's files carry a strict CSP, the code logs a WebSocket in once and
//! yields an expiring session credential, read-only means read-only, and only the
//! daemon's own origin (or an allowed one) may open a WebSocket.

mod common;

use std::process::Command;

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn login(daemon: &Daemon, extra: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["console", "--json", "--url", &daemon.url, "--data-dir"])
        .arg(&daemon.data_dir)
        .args(extra)
        .env_remove("TETHER_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A WebSocket as the page opens it: from the daemon's own origin, no token.
async fn page_socket(daemon: &Daemon, origin: &str) -> Result<Ws, u16> {
    let mut request = daemon.url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("origin", origin.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

fn own_origin(daemon: &Daemon) -> String {
    daemon.url.replace("ws://", "http://")
}

async fn auth(ws: &mut Ws, token: &str) -> Value {
    rpc(ws, json!({"jsonrpc": "2.0", "id": 1, "method": "session.auth", "params": {"token": token}})).await
}

#[tokio::test]
async fn a_login_code_works_once_from_the_page_and_yields_an_expiring_session() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let code = login(&daemon, &[]);
    let url = code["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/console/#code=tlc_", own_origin(&daemon))), "{url}");

    let mut ws = page_socket(&daemon, &own_origin(&daemon)).await.expect("the console's own origin may connect");
    let answer = auth(&mut ws, code["code"].as_str().unwrap()).await;
    assert_eq!(answer["result"]["ok"], true, "{answer}");
    let credential = answer["result"]["credential"].clone();
    assert!(credential["token"].as_str().unwrap().starts_with("tcs_"), "{answer}");
    assert!(credential["expires_at"].as_str().is_some());
    let handshake = json!({"jsonrpc": "2.0", "id": 2, "method": "server.handshake", "params": {"protocol_version": 3}});
    assert!(rpc(&mut ws, handshake).await["result"].is_object());
    let approvals = json!({"jsonrpc": "2.0", "id": 3, "method": "approvals.list", "params": {}});
    assert!(rpc(&mut ws, approvals).await["result"].is_array(), "a console is the operator");

    let mut again = page_socket(&daemon, &own_origin(&daemon)).await.unwrap();
    let reused = auth(&mut again, code["code"].as_str().unwrap()).await;
    assert_eq!(reused["error"]["code"], -32001, "a used code is refused: {reused}");

    let mut later = page_socket(&daemon, &own_origin(&daemon)).await.unwrap();
    let session = auth(&mut later, credential["token"].as_str().unwrap()).await;
    assert_eq!(session["result"]["ok"], true, "the session credential logs in again: {session}");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[console]\ncode_ttl_ms = 1\n").unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let code = login(&daemon, &[]);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await; // past a 1 ms lifetime
    let mut ws = page_socket(&daemon, &own_origin(&daemon)).await.unwrap();
    assert_eq!(auth(&mut ws, code["code"].as_str().unwrap()).await["error"]["code"], -32001);
}

#[tokio::test]
async fn a_read_only_console_may_read_but_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let code = login(&daemon, &["--read-only"]);
    assert_eq!(code["read_only"], true);
    let mut ws = page_socket(&daemon, &own_origin(&daemon)).await.unwrap();
    let answer = auth(&mut ws, code["code"].as_str().unwrap()).await;
    assert_eq!(answer["result"]["read_only"], true, "{answer}");
    let handshake = json!({"jsonrpc": "2.0", "id": 2, "method": "server.handshake", "params": {"protocol_version": 3}});
    rpc(&mut ws, handshake).await;
    let list = rpc(&mut ws, json!({"jsonrpc": "2.0", "id": 3, "method": "approvals.list", "params": {}})).await;
    assert!(list["result"].is_array(), "{list}");
    for (method, params) in [
        ("approvals.resolve", json!({"approval_id": "x", "decision": "allow"})),
        ("sessions.stop", json!({"session_id": "x"})),
        ("runs.start", json!({"intent": "x"})),
        ("console.login", json!({})),
    ] {
        let refused = rpc(&mut ws, json!({"jsonrpc": "2.0", "id": 4, "method": method, "params": params})).await;
        assert_eq!(refused["error"]["code"], -32003, "{method}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("read-only"), "{refused}");
    }
    // Nor may its credential post a hook over HTTP.
    let session = answer["result"]["credential"]["token"].as_str().unwrap();
    let (status, _) = http_post(daemon.addr, "/hooks", Some(session), &fixture("PreToolUse").to_string()).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn only_the_daemons_own_origin_may_open_a_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let port = daemon.addr.port();
    for foreign in [format!("http://127.0.0.1:{}", port + 1), "http://evil.example".into(), "null".into()] {
        assert_eq!(page_socket(&daemon, &foreign).await.err(), Some(403), "{foreign}");
    }
    assert!(page_socket(&daemon, &own_origin(&daemon)).await.is_ok());
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_content_security_policy() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let response = raw_response(&daemon, "/console/").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let csp = header(&response, "content-security-policy").expect("a CSP");
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(&response, "x-content-type-options").as_deref(), Some("nosniff"));
    let html = response.split_once("\r\n\r\n").unwrap().1;
    assert!(!html.contains("<script>") && html.contains("src=\"app.js\""), "no inline script: {html}");
    assert!(raw_response(&daemon, "/console/app.js").await.starts_with("HTTP/1.1 200"));
    assert!(raw_response(&daemon, "/console").await.starts_with("HTTP/1.1 308"));
    assert!(raw_response(&daemon, "/console/missing.js").await.starts_with("HTTP/1.1 404"));
}

#[tokio::test]
async fn a_disabled_console_serves_nothing_and_mints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[console]\nenabled = false\n").unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    assert!(raw_response(&daemon, "/console/").await.starts_with("HTTP/1.1 404"));
    assert_eq!(page_socket(&daemon, &own_origin(&daemon)).await.err(), Some(403));
    let client = tether_client::Client::builder(&daemon.url).token(daemon.token()).connect().await.unwrap();
    let error = client.call_raw("console.login", json!({})).await.unwrap_err();
    assert!(error.to_string().contains("console.login"), "{error}");
}

async fn raw_response(daemon: &Daemon, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", daemon.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn header(response: &str, name: &str) -> Option<String> {
    let head = response.split_once("\r\n\r\n")?.0;
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}

/// A page logged in with a fresh code: its socket (handshake done) and its session credential.
async fn console_page(daemon: &Daemon) -> (Ws, String) {
    let code = login(daemon, &[]);
    let mut ws = page_socket(daemon, &own_origin(daemon)).await.unwrap();
    let answer = auth(&mut ws, code["code"].as_str().unwrap()).await;
    let credential = answer["result"]["credential"]["token"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    handshake(&mut ws).await;
    (ws, credential)
}

async fn handshake(ws: &mut Ws) {
    let handshake = json!({"jsonrpc": "2.0", "id": 2, "method": "server.handshake", "params": {"protocol_version": 3}});
    assert!(rpc(ws, handshake).await["result"].is_object());
}

/// Another connection of the same console session (as the page reconnects).
async fn reconnect(daemon: &Daemon, credential: &str) -> Result<Ws, Value> {
    let mut ws = page_socket(daemon, &own_origin(daemon)).await.unwrap();
    let answer = auth(&mut ws, credential).await;
    if answer["result"]["ok"] != true {
        return Err(answer);
    }
    handshake(&mut ws).await;
    Ok(ws)
}

async fn call(ws: &mut Ws, method: &str, params: Value) -> Value {
    rpc(ws, json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": params})).await
}

fn console_cli(daemon: &Daemon, extra: &[&str]) -> Vec<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["console", "--json", "--url", &daemon.url, "--data-dir"])
        .arg(&daemon.data_dir)
        .args(extra)
        .env_remove("TETHER_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test]
async fn a_console_session_closes_its_connections_at_its_ttl_and_mints_no_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "[console]\nsession_ttl_ms = 1500\n").unwrap();
    let daemon = Daemon::spawn(dir.path(), &["--config", config.to_str().unwrap()]);
    let logged_in = std::time::Instant::now();
    let (mut ws, credential) = console_page(&daemon).await;
    let minted = call(&mut ws, "console.login", json!({})).await;
    assert_eq!(minted["error"]["code"], -32003, "a console session mints no codes: {minted}");
    let revoked = call(&mut ws, "console.revoke", json!({"all": true})).await;
    assert_eq!(revoked["error"]["code"], -32003, "nor revokes sessions: {revoked}");

    // The connection is busy (a request every 100 ms) and still closed at the TTL.
    let closed = loop {
        send(&mut ws, json!({"jsonrpc": "2.0", "id": 10, "method": "server.ping"})).await;
        let next = tokio::time::timeout(std::time::Duration::from_millis(100), ws.next()).await;
        match next {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) | Err(_) => assert!(logged_in.elapsed() < PATIENCE, "still open past its TTL"),
            Ok(other) => panic!("closed without a close frame: {other:?}"),
        }
    };
    assert!(logged_in.elapsed() >= std::time::Duration::from_millis(1500), "not before its TTL");
    let closed = closed.expect("a close frame");
    assert_eq!(u16::from(closed.code), 1008, "{closed:?}");
    let refused = reconnect(&daemon, &credential).await.expect_err("an expired session logs in no more");
    assert_eq!(refused["error"]["code"], -32001, "{refused}");
}

#[tokio::test]
async fn logout_and_revocation_end_console_sessions_and_close_their_connections() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let (mut first, first_credential) = console_page(&daemon).await;
    let mut first_again = reconnect(&daemon, &first_credential).await.unwrap();
    let (mut second, second_credential) = console_page(&daemon).await;
    let (mut third, _) = console_page(&daemon).await;
    assert_eq!(console_cli(&daemon, &["--list"]).len(), 3, "three sessions alive");

    let out = call(&mut first, "console.logout", json!({})).await;
    let first_id = out["result"]["session_id"].as_str().unwrap_or_else(|| panic!("{out}")).to_owned();
    for ws in [&mut first, &mut first_again] {
        assert_eq!(close_frame(ws).await.map(|f| u16::from(f.code)), Some(1008), "logged out: closed");
    }
    let refused = reconnect(&daemon, &first_credential).await.expect_err("a logged-out session logs in no more");
    assert_eq!(refused["error"]["code"], -32001, "{refused}");
    let listed: Vec<Value> = console_cli(&daemon, &["--list"]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|s| s["session_id"] != first_id.as_str()), "{listed:?}");

    // One by id (the list is oldest first: the second page's), then the rest at once.
    let second_id = listed[0]["session_id"].as_str().unwrap().to_owned();
    assert_eq!(console_cli(&daemon, &["--revoke", &second_id])[0]["revoked"], 1);
    assert_eq!(close_frame(&mut second).await.map(|f| u16::from(f.code)), Some(1008), "revoked: closed");
    let ended = console_cli(&daemon, &["--revoke-all"]);
    assert_eq!(ended[0]["revoked"], 1, "{ended:?}");
    assert_eq!(close_frame(&mut third).await.map(|f| u16::from(f.code)), Some(1008), "all revoked: closed");
    assert!(reconnect(&daemon, &second_credential).await.is_err());
    assert!(console_cli(&daemon, &["--list"]).is_empty());
}
