//! The baselines of `benches/rpc.rs`, each a server in this process:
//!
//! - `echo`: tokio-tungstenite with its defaults, echoing every text frame (no JSON at all);
//! - `canned <file>`: answers every text frame with the file's bytes (the
//!   ceiling for a read whose reply is that large);
//! - `stored <file>`: answers every text frame with the file's bytes read afresh
//!   and checked (CRC32C, UTF-8), as a durable store reads what it serves (the
//!   ceiling for a read of stored records);
//! - `broadcast`: a text frame `sub` adds a subscription to its connection;
//!   any other frame is written once per subscription to every connection (the
//!   ceiling for event fan-out);
//! - `jsonrpsee`: a jsonrpsee WebSocket server answering `server.ping` with `"pong"`;
//! - `durable DIR [--car-frames]`: the ceiling of a durable turn (`durable.rs`);
//! - `hold` and `ws-hold`: the floors of an idle connection: an accepted TCP socket
//!   kept and never read; a WebSocket with tether's buffer sizes on a task awaiting
//!   its next frame.
//!
//! Each prints `listening on ws://ADDR` and serves until SIGTERM (on which it
//! exits, so that callgrind can write its counts).
//!
//! And the load generator, which is not tether's: `load URL CONNECTIONS DEPTH
//! SECONDS [--token T] [--handshake] [--message TEXT]` keeps DEPTH requests in
//! flight on each of CONNECTIONS connections (tokio-tungstenite defaults,
//! TCP_NODELAY), counts replies for SECONDS after a 0.5 s warm-up, and prints
//! one line: `rate=… p50_us=… p99_us=… p999_us=…` (latencies only when DEPTH is 1);
//! `turns URL RUNS SECONDS [--token T]` drives durable turns (`durable.rs`).

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

mod durable;
mod load;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        let serve = async {
            match args.first().map(String::as_str) {
                Some("echo") => echo().await,
                Some("canned") => canned(std::fs::read_to_string(&args[1]).unwrap()).await,
                Some("stored") => stored(args[1].clone()).await,
                Some("broadcast") => broadcast().await,
                Some("jsonrpsee") => jsonrpsee_server().await,
                Some("durable") => durable::serve(&args[1], args.get(2).is_some_and(|a| a == "--car-frames")).await,
                Some("hold") => hold().await,
                Some("ws-hold") => ws_hold().await,
                Some("load") => load::run(&args[1..]).await,
                Some("turns") => durable::turns(&args[1..]).await,
                _ => panic!("usage: bench-peers echo | canned FILE | stored FILE | broadcast | jsonrpsee | durable DIR [--car-frames] | hold | ws-hold | load ... | turns ..."),
            }
        };
        tokio::select! {
            () = serve => {}
            _ = terminate.recv() => {}
        }
    });
}

async fn hold() {
    let listener = listen().await;
    let mut held = Vec::new();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        held.push(stream);
    }
}

async fn ws_hold() {
    let listener = listen().await;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = accept(stream).await else { return };
            while let Some(Ok(_)) = ws.next().await {}
        });
    }
}

/// tether's buffers (`limits.read_buffer_bytes`, `limits.write_buffer_bytes`), for every
/// server and client here: tungstenite's default read buffer (128 KiB) is zero-filled up
/// to its size before every read, the one that finds nothing too, which cost a peer a
/// few microseconds per read that tether does not pay.
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(2 << 10).write_buffer_size(16 << 10)
}

pub(crate) async fn accept(
    stream: tokio::net::TcpStream,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, tokio_tungstenite::tungstenite::Error> {
    tokio_tungstenite::accept_async_with_config(stream, Some(config())).await
}

pub(crate) async fn listen() -> TcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    println!("listening on ws://{addr}");
    listener
}

async fn echo() {
    let listener = listen().await;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = accept(stream).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() && ws.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn canned(reply: String) {
    let reply = Utf8Bytes::from(reply);
    let listener = listen().await;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let reply = reply.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = accept(stream).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() && ws.send(Message::Text(reply.clone())).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn stored(path: String) {
    let listener = listen().await;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let path = path.clone();
        tokio::spawn(async move {
            let Ok(mut ws) = accept(stream).await else { return };
            while let Some(Ok(message)) = ws.next().await {
                if !message.is_text() {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                std::hint::black_box(crc32c::crc32c(&bytes));
                let reply = Utf8Bytes::from(String::from_utf8(bytes).unwrap());
                if ws.send(Message::Text(reply)).await.is_err() {
                    break;
                }
            }
        });
    }
}

async fn broadcast() {
    let (tx, _) = tokio::sync::broadcast::channel::<Utf8Bytes>(4096);
    let tx = Arc::new(tx);
    let listener = listen().await;
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        tokio::spawn(async move {
            let Ok(ws) = accept(stream).await else { return };
            let (mut sink, mut source) = ws.split();
            let mut rx = tx.subscribe();
            let mut subscriptions = 0usize;
            loop {
                tokio::select! {
                    message = source.next() => match message {
                        Some(Ok(Message::Text(text))) if text.as_str() == "sub" => {
                            subscriptions += 1;
                            if sink.send(Message::Text("ok".into())).await.is_err() { return }
                        }
                        Some(Ok(Message::Text(text))) => { let _ = tx.send(text); }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    event = rx.recv() => match event {
                        Ok(event) => {
                            for _ in 0..subscriptions {
                                if sink.feed(Message::Text(event.clone())).await.is_err() { return }
                            }
                            if sink.flush().await.is_err() { return }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                }
            }
        });
    }
}

async fn jsonrpsee_server() {
    use jsonrpsee::server::{RpcModule, Server, ServerConfig};
    // Its default of 100 connections would refuse the idle-memory measurement.
    let server = Server::builder()
        .set_config(ServerConfig::builder().max_connections(20_000).build())
        .build("127.0.0.1:0")
        .await
        .unwrap();
    let mut module = RpcModule::new(());
    module.register_method("server.ping", |_, _, _| "pong").unwrap();
    println!("listening on ws://{}", server.local_addr().unwrap());
    let handle = server.start(module);
    handle.stopped().await;
}
