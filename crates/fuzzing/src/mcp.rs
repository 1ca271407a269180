//! MCP messages as `tether mcp` reads them on stdin: newline-delimited JSON-RPC through
//! rmcp into `TetherMcp`, whose backend answers every method with its params (so tool
//! calls, resources and prompts run their whole adapter path).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rmcp::ServiceExt;
use serde_json::Value;
use tether_mcp::{Backend, McpOptions, TetherMcp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Echo;

impl Backend for Echo {
    fn call(&self, _method: &'static str, params: Value) -> tether_mcp::Reply<'_> {
        Box::pin(async move { Ok(params) })
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

pub fn mcp_stdio(data: &[u8]) {
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let serving = tokio::spawn(async move {
            let mcp = TetherMcp::new(Arc::new(Echo), McpOptions { allow_spawn: true, ..McpOptions::default() });
            if let Ok(running) = mcp.serve(server).await {
                let _ = running.waiting().await;
            }
        });
        let exchange = async {
            let _ = client.write_all(data).await;
            let _ = client.write_all(b"\n").await;
            let _ = client.shutdown().await;
            let mut answers = Vec::new();
            let _ = client.read_to_end(&mut answers).await;
        };
        // A server that waits for more than it was given ends with the input's EOF; the
        // bound is for a hang, which is a finding.
        let _ = tokio::time::timeout(Duration::from_secs(5), exchange).await;
        drop(client);
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    });
}
