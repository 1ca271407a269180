//! One MCP tool call's added latency, beside the same method over the WebSocket.
//!
//! A release `tether serve` in its own process; this bench is the client, in another.
//! Each form calls `policy.check` (a method with no I/O, so the transport is what is
//! measured) one call at a time, and the p50/p99 are printed with the ratio to the
//! ceiling, the direct WebSocket call:
//! - `websocket`: `policy.check` through `tether_client` (the ceiling);
//! - `stdio`: `tools/call policy_check` to `tether mcp` over its stdin/stdout, after
//!   the 2025-11-25 `initialize` (the bridge is itself a WebSocket client of the daemon);
//! - `http`: `tools/call policy_check` as a stateless 2026-07-28 POST to `/mcp`, a new
//!   TCP connection per call as the front door closes each (and the daemon's loopback
//!   client for the token, kept between calls).
//!
//! `cargo bench --bench mcp`; `TETHER_BIN=/path/to/tether` measures another build.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, TOKEN};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

const CALLS: usize = 2_000;
const WARMUP: usize = 200;

fn main() {
    let bin = std::env::var("TETHER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tether").to_owned());
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&bin, &dir.path().join("data"), &[]);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let websocket = runtime.block_on(websocket(&daemon.url));
    let stdio = stdio(&bin, &daemon.url);
    let http = runtime.block_on(http(daemon.addr()));
    println!("one policy.check at a time, {CALLS} calls after {WARMUP} warm-up (µs)");
    println!("{:<10} {:>8} {:>8} {:>10} {:>12}", "form", "p50", "p99", "p50 ratio", "added p50");
    let base = percentile(&websocket, 0.5);
    for (name, samples) in [("websocket", &websocket), ("stdio", &stdio), ("http", &http)] {
        let p50 = percentile(samples, 0.5);
        println!(
            "{name:<10} {:>8.0} {:>8.0} {:>9.2}× {:>+11.0}",
            p50,
            percentile(samples, 0.99),
            p50 / base,
            p50 - base
        );
    }
}

fn params() -> serde_json::Value {
    json!({"tool_name": "Bash", "tool_input": {"command": "ls -la"}})
}

async fn websocket(url: &str) -> Vec<f64> {
    let client = tether_client::Client::builder(url).token(TOKEN).connect().await.unwrap();
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..WARMUP + CALLS {
        let start = Instant::now();
        client.call_raw("policy.check", params()).await.unwrap();
        if i >= WARMUP {
            samples.push(micros(start.elapsed()));
        }
    }
    samples
}

fn stdio(bin: &str, url: &str) -> Vec<f64> {
    let mut child = Command::new(bin)
        .args(["mcp", "--url", url])
        .env("TETHER_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut send = |message: serde_json::Value, answered: bool| -> Duration {
        let start = Instant::now();
        writeln!(input, "{message}").unwrap();
        input.flush().unwrap();
        if answered {
            line.clear();
            output.read_line(&mut line).unwrap();
            assert!(line.contains("\"result\""), "{line}");
        }
        start.elapsed()
    };
    let hello =
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}});
    send(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}), true);
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}), false);
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..WARMUP + CALLS {
        let call = json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                          "params": {"name": "policy_check", "arguments": params()}});
        let took = send(call, true);
        if i >= WARMUP {
            samples.push(micros(took));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    samples
}

async fn http(addr: &str) -> Vec<f64> {
    let mut samples = Vec::with_capacity(CALLS);
    for i in 0..WARMUP + CALLS {
        let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "0"},
                          "io.modelcontextprotocol/clientCapabilities": {}});
        let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                          "params": {"name": "policy_check", "arguments": params(), "_meta": meta}})
        .to_string();
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             MCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: policy_check\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let start = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let took = start.elapsed();
        assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));
        if i >= WARMUP {
            samples.push(micros(took));
        }
    }
    samples
}

fn micros(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1e6
}

fn percentile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}
