//! `tether mcp`: the MCP server on stdio, bridged to the running daemon (found as the
//! CLI finds it). Inside a managed session `TETHER_URL` and `TETHER_TOKEN` are the
//! session's own, so the agent acts as its session. Nothing but MCP goes to stdout.

use std::process::ExitCode;
use std::sync::Arc;

use rmcp::ServiceExt;
use tether_mcp::TetherMcp;

use crate::cli::McpArgs;

pub fn run(args: McpArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tether mcp: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tether mcp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: McpArgs) -> Result<(), String> {
    let client = crate::connect::connect(&args.target).await?;
    let options = args.options();
    // One MCP client per process: its subscriptions ride this connection's events.
    let watches = tether_mcp::Watches::new(client.clone(), options.max_subscriptions);
    watches.start().await.map_err(|e| e.message.to_string())?;
    let server = TetherMcp::new(Arc::new(client), options).with_watches(watches);
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| e.to_string())?;
    running.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}
