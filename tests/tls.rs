//! `wss://` through a TLS-terminating proxy on loopback, as the README's remote-use
//! section sets it up: a test CA made here (rcgen), a certificate for `localhost` signed
//! by it, and a rustls proxy in front of a real daemon. The CLI (`--ca-file` and
//! `$TETHER_CA_FILE`), `tether mcp`, the Rust client and both SDKs reach the daemon
//! through it; without the CA, or by a name the certificate does not carry, they are
//! refused.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tether_client::Client;
use tokio::net::{TcpListener, TcpStream};

/// A CA and a `localhost` certificate it signed, the CA's PEM written to `dir/ca.pem`,
/// the certificate's to `dir/cert.pem` and its key's to `dir/key.pem`.
struct Pki {
    ca_file: PathBuf,
    cert_file: PathBuf,
    key_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "tether test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_file, leaf.pem()).unwrap();
    std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();
    Pki {
        ca_file,
        cert_file,
        key_file,
        chain: vec![leaf.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// A TLS-terminating proxy on a loopback port: each connection's TLS is ended here and
/// its bytes are carried to `upstream` (the daemon's plain TCP port) and back.
async fn tls_proxy(pki: &Pki, upstream: SocketAddr) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends its handshake here.
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut daemon) = TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut daemon).await;
            });
        }
    });
    port
}

/// `tether ARGS` with `env`, its data directory nowhere near the daemon's (everything it
/// knows comes from the arguments and `env`), run off the async runtime.
async fn tether(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .args(args)
        .env("TETHER_HOME", "/nonexistent/tether-home")
        .env_remove("TETHER_URL")
        .env_remove("TETHER_CA_FILE")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.stdin(Stdio::null()).output().unwrap()).await.unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_and_tether_mcp_reach_the_daemon_by_wss_through_a_tls_proxy_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let pki = pki(dir.path());
    let port = tls_proxy(&pki, daemon.addr).await;
    let url = format!("wss://localhost:{port}");
    let token = daemon.token();
    let ca = pki.ca_file.to_str().unwrap();

    // --ca-file: `status` makes a WebSocket connection and a GET /healthz, both over TLS.
    let status = tether(&["status", "--json", "--url", &url, "--ca-file", ca], &[("TETHER_TOKEN", &token)]).await;
    assert!(status.status.success(), "{}", text(&status));
    let line: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((line["reachable"].clone(), line["status"].clone()), (json!(true), json!("ok")), "{line}");

    // $TETHER_CA_FILE does the same.
    let listed =
        tether(&["runs", "ls", "--json", "--url", &url], &[("TETHER_TOKEN", &token), ("TETHER_CA_FILE", ca)]).await;
    assert!(listed.status.success(), "{}", text(&listed));

    // Without the CA the platform's roots do not know it: refused, and said why.
    let unknown = tether(&["status", "--url", &url], &[("TETHER_TOKEN", &token)]).await;
    assert!(!unknown.status.success(), "{}", text(&unknown));
    let why = String::from_utf8_lossy(&unknown.stderr).to_lowercase();
    assert!(why.contains("certificate") && why.contains(&url), "{}", text(&unknown));

    // A name the certificate does not carry is refused even with the CA.
    let by_ip = format!("wss://127.0.0.1:{port}");
    let mismatch = tether(&["status", "--url", &by_ip, "--ca-file", ca], &[("TETHER_TOKEN", &token)]).await;
    assert!(!mismatch.status.success(), "{}", text(&mismatch));
    assert!(String::from_utf8_lossy(&mismatch.stderr).to_lowercase().contains("certificate"), "{}", text(&mismatch));

    // A CA file that is not one is named.
    let bogus = dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let refused =
        tether(&["status", "--url", &url, "--ca-file", bogus.to_str().unwrap()], &[("TETHER_TOKEN", &token)]).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("bogus.pem"), "{}", text(&refused));

    // `tether mcp` over wss://, driven by the official MCP SDK over stdio.
    let python = std::env::var("TETHER_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let plan = json!({
        "mode": "auto",
        "command": env!("CARGO_BIN_EXE_tether"),
        "args": ["mcp", "--url", url],
        "env": {"TETHER_TOKEN": token, "TETHER_CA_FILE": ca},
        "calls": [["runs_list", {"limit": 1}]],
    });
    let mut command = Command::new(python);
    command.arg(format!("{}/tests/mcp/client.py", env!("CARGO_MANIFEST_DIR"))).arg(plan.to_string());
    let answer = run(command).await;
    assert!(answer.status.success(), "{}", text(&answer));
    let answer: Value = serde_json::from_slice(&answer.stdout).unwrap();
    let result = &answer["results"][0];
    assert!(result.get("isError").is_none_or(|e| e == false), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_and_both_sdks_reach_the_daemon_by_wss_through_a_tls_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(dir.path(), &[]);
    let pki = pki(dir.path());
    let port = tls_proxy(&pki, daemon.addr).await;
    let url = format!("wss://localhost:{port}");
    let token = daemon.token();
    let ca = pki.ca_file.to_str().unwrap();

    // The Rust client: ca_file, then a full handshake and a call.
    let client = Client::builder(&url).token(&token).ca_file(&pki.ca_file).connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), json!("pong"));
    assert!(client.handshake().is_some());
    client.close();
    let refused = Client::builder(&url).token(&token).connect().await.err().expect("an unknown CA is refused");
    assert!(refused.to_string().to_lowercase().contains("certificate"), "{refused}");

    sdks_reach(&url, &token, ca).await;
}

/// Both SDKs run a tool call at `url` trusting `ca`, and are refused without it.
async fn sdks_reach(url: &str, token: &str, ca: &str) {
    // Python: the SDK's websockets verifies with the default context, which reads SSL_CERT_FILE.
    let python = std::env::var("TETHER_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let script = r#"
import asyncio, sys, tether
async def main():
    async with tether.connect(sys.argv[1], token=sys.argv[2], agent_id="tls-py") as client:
        @client.tool(description="Echo text back")
        async def echo(text: str) -> dict[str, str]:
            return {"echo": text}
        async with client.run("over wss") as run:
            results = await run.submit([tether.call("echo", text="hi")])
        print(results[0]["output"]["echo"], await client.call("server.ping"))
asyncio.run(main())
"#;
    let mut command = Command::new(&python);
    command.args(["-c", script, url, token]).env("SSL_CERT_FILE", ca);
    let output = run(command).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hi pong");
    let mut command = Command::new(&python);
    command.args(["-c", script, url, token]).env_remove("SSL_CERT_FILE");
    let output = run(command).await;
    assert!(!output.status.success(), "without the CA: {}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("CERTIFICATE_VERIFY_FAILED"), "{}", text(&output));

    // TypeScript: the SDK's `ws` on Node verifies with Node's roots plus NODE_EXTRA_CA_CERTS.
    let sdk = format!("{}/sdks/typescript/dist/src/index.js", env!("CARGO_MANIFEST_DIR"));
    let script = r#"
const { connect, call } = await import(process.argv[1]);
const client = await connect({ url: process.argv[2], token: process.argv[3], agentId: "tls-ts" });
await client.tool("echo", { parameters: { type: "object" } }, async ({ text }) => ({ echo: text }));
const run = await client.startRun("over wss");
const results = await run.submit([call("echo", { text: "hi" })]);
await run.complete({ status: "success" });
console.log(results.outputs[0].echo, await client.call("server.ping"));
await client.close();
"#;
    let mut command = Command::new("node");
    command.args(["--input-type=module", "-e", script, &sdk, url, token]).env("NODE_EXTRA_CA_CERTS", ca);
    let output = run(command).await;
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "hi pong");
    let mut command = Command::new("node");
    command.args(["--input-type=module", "-e", script, &sdk, url, token]).env_remove("NODE_EXTRA_CA_CERTS");
    let output = run(command).await;
    assert!(!output.status.success(), "without the CA: {}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).to_lowercase().contains("certificate"), "{}", text(&output));
}

/// The daemon's own TLS (`--tls-cert`/`--tls-key`): its TCP port serves the WebSocket,
/// `/healthz`, `/metrics`, the console and `/mcp` over TLS, to the CLI, the Rust client,
/// the MCP SDK and both SDKs trusting the test CA, and nothing in plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_with_its_own_certificate_serves_its_tcp_port_over_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let (cert, key) = (pki.cert_file.to_str().unwrap(), pki.key_file.to_str().unwrap());
    let daemon = Daemon::spawn(dir.path(), &["--tls-cert", cert, "--tls-key", key]);
    assert!(daemon.url.starts_with("wss://127.0.0.1:"), "the readiness line says wss://: {}", daemon.url);
    let port = daemon.addr.port();
    let url = format!("wss://localhost:{port}");
    let token = daemon.token();
    let ca = pki.ca_file.to_str().unwrap();

    // The CLI: a WebSocket and a GET /healthz, both over TLS.
    let status = tether(&["status", "--json", "--url", &url, "--ca-file", ca], &[("TETHER_TOKEN", &token)]).await;
    assert!(status.status.success(), "{}", text(&status));
    let line: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((line["reachable"].clone(), line["status"].clone()), (json!(true), json!("ok")), "{line}");

    // The Rust client; plain ws:// to the same port gets no WebSocket.
    let client = Client::builder(&url).token(&token).ca_file(&pki.ca_file).connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), json!("pong"));
    client.close();
    let plain = Client::builder(format!("ws://localhost:{port}")).token(&token).connect().await;
    assert!(plain.is_err(), "plain text on the TLS port must not reach the daemon");

    // Plain HTTP endpoints over https://: /metrics with the token, the console with a
    // policy that lets its page connect back by wss://.
    let config = tether_client::tls::client_config(Some(&pki.ca_file)).unwrap();
    let metrics = https(
        &config,
        port,
        &format!("GET /metrics HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Bearer {token}\r\n"),
    )
    .await;
    assert!(metrics.starts_with("HTTP/1.1 200") && metrics.contains("tether_build_info"), "{metrics}");
    let console = https(&config, port, &format!("GET /console/ HTTP/1.1\r\nHost: localhost:{port}\r\n")).await;
    assert!(console.starts_with("HTTP/1.1 200"), "{console}");
    assert!(console.contains(&format!("connect-src 'self' wss://localhost:{port};")), "{console}");

    // /mcp (Streamable HTTP) through the official MCP SDK: its tools call back into the
    // daemon (over the Unix socket, which needs no certificate).
    let python = std::env::var("TETHER_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let plan = json!({
        "mode": "auto",
        "url": format!("https://localhost:{port}/mcp"),
        "headers": {"Authorization": format!("Bearer {token}")},
        "ca_file": ca,
        "calls": [["runs_list", {"limit": 1}]],
    });
    let mut command = Command::new(&python);
    command.arg(format!("{}/tests/mcp/client.py", env!("CARGO_MANIFEST_DIR"))).arg(plan.to_string());
    let answer = run(command).await;
    assert!(answer.status.success(), "{}", text(&answer));
    let answer: Value = serde_json::from_slice(&answer.stdout).unwrap();
    let result = &answer["results"][0];
    assert!(
        result.get("isError").is_none_or(|e| e == false) && result["structuredContent"]["runs"].is_array(),
        "{answer}"
    );

    sdks_reach(&url, &token, ca).await;
}

/// Sends `request` (its head, without the final blank line) over TLS to `localhost:port`
/// and returns what came back before the daemon closed the connection.
async fn https(config: &Arc<rustls::ClientConfig>, port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = tether_client::tls::connect(&format!("localhost:{port}"), config.clone()).await.unwrap();
    tls.write_all(format!("{request}Connection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // The daemon closes without a close_notify after a response that states its length.
    let _ = tls.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// `tether serve` on `data` with `tls`, which must refuse to start: its stderr.
async fn serve_refusal(data: &str, tls: &[&str]) -> String {
    let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", data];
    args.extend(tls);
    let output = tokio::time::timeout(std::time::Duration::from_secs(30), tether(&args, &[])).await;
    let output = output.expect("serve should have refused to start");
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Half a TLS configuration, or a file that is not what its flag says, stops `serve`
/// before it starts, with the flag (and config key) and the file named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_half_a_tls_configuration_and_files_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let data = dir.path().join("data");
    let (cert, key, data) = (pki.cert_file.to_str().unwrap(), pki.key_file.to_str().unwrap(), data.to_str().unwrap());
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_str().unwrap();
    let why = serve_refusal(data, &["--tls-cert", cert]).await;
    assert!(why.contains("--tls-cert (tls_cert) needs --tls-key (tls_key)"), "{why}");
    let why = serve_refusal(data, &["--tls-key", key]).await;
    assert!(why.contains("--tls-key (tls_key) needs --tls-cert (tls_cert)"), "{why}");
    let why = serve_refusal(data, &["--tls-cert", missing, "--tls-key", key]).await;
    assert!(why.contains(&format!("TLS certificate {missing} (--tls-cert, tls_cert)")), "{why}");
    assert!(why.contains("No such file"), "{why}");
    let why = serve_refusal(data, &["--tls-cert", key, "--tls-key", key]).await;
    assert!(why.contains("(--tls-cert, tls_cert): no PEM certificate in it"), "{why}");
    let why = serve_refusal(data, &["--tls-cert", cert, "--tls-key", cert]).await;
    assert!(why.contains(&format!("TLS key {cert} (--tls-key, tls_key): no PEM private key in it")), "{why}");

    // In the config file: a relative path is relative to the file.
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, "tls_cert = \"missing.pem\"\ntls_key = \"key.pem\"\n").unwrap();
    let why = serve_refusal(data, &["--config", config.to_str().unwrap()]).await;
    assert!(why.contains(&format!("TLS certificate {missing} (--tls-cert, tls_cert)")), "{why}");
    assert!(!std::path::Path::new(data).join("lock").exists(), "refused before the data directory was claimed");
}

/// A client stalled in its TLS handshake holds one of the pending sockets' places, and is
/// dropped at the head timeout, like one stalled in its request head; then a real client
/// gets in.
#[tokio::test]
async fn a_stalled_tls_handshake_is_capped_and_dropped_at_the_head_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let tls = tether_server::tls::server_config(&pki.cert_file, &pki.key_file).unwrap();
    let server = TestServer::start_with(move |c| {
        c.connection.limits.max_pending_upgrades = 1;
        c.connection.limits.head_timeout_ms = 400;
        c.tls = Some(tls);
    })
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    // Its place is taken before a second arrives: that one is closed at once.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, second.read(&mut byte)).await.expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "a second socket is closed without a word");
    let read = tokio::time::timeout(PATIENCE, silent.read(&mut byte)).await.expect("dropped at the deadline");
    assert!(matches!(read, Ok(0) | Err(_)));
    let url = format!("wss://localhost:{}", server.addr.port());
    let client = Client::builder(&url).token(&server.token).ca_file(&pki.ca_file).connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), json!("pong"));
}
