//! What OTLP export costs a run: durable turns per second with export off (the
//! ceiling, same daemon binary), on to a live collector, and on to a dead one
//! (connection refused), at 1 and 8 concurrent runs, from this separate client
//! process. Run with `cargo bench --bench telemetry`.

use common::{Daemon, turns_per_second};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let live = runtime.block_on(collector());
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let setups =
        [("export off", None), ("export on, live collector", Some(live)), ("export on, dead collector", Some(dead))];
    let daemons: Vec<(&str, Daemon)> = setups
        .iter()
        .enumerate()
        .map(|(n, (name, collector))| {
            let config = dir.path().join(format!("{n}.toml"));
            let text = match collector {
                Some(addr) => format!("[telemetry]\notlp_endpoint = \"http://{addr}\"\n"),
                None => String::new(),
            };
            std::fs::write(&config, text).unwrap();
            let data = dir.path().join(format!("data-{n}"));
            (*name, Daemon::start(env!("CARGO_BIN_EXE_tether"), &data, &["--config", config.to_str().unwrap()]))
        })
        .collect();
    for runs in [1, 8] {
        // Two rounds, interleaved, so a slow moment of the machine hits every setup.
        let mut rates = vec![0.0f64; daemons.len()];
        for _ in 0..2 {
            for (n, (_, daemon)) in daemons.iter().enumerate() {
                rates[n] = rates[n].max(runtime.block_on(turns_per_second(&daemon.url, runs, true)));
            }
        }
        for (n, (name, _)) in daemons.iter().enumerate() {
            println!("{runs} run(s), {name}: {:.0} durable turns/s = {:.2}x export off", rates[n], rates[n] / rates[0]);
        }
    }
}

/// An OTLP/HTTP endpoint that answers 200 to every request and keeps nothing.
async fn collector() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut chunk = vec![0u8; 1 << 16];
                loop {
                    let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while pending.len() < end + 4 + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                    }
                    pending.drain(..end + 4 + length);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if stream.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
