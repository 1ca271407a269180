//! A harness that runs as a managed session: it reads the `TETHER_*` variables the
//! daemon hands it, connects back with its session token, registers a tool,
//! starts a run (bound to agent `session:<id>`), submits a proposal, and completes.
//!
//! ```sh
//! cargo build --example session_agent
//! # as the operator (the CLI makes the working directory absolute, as the daemon requires):
//! tether sessions spawn --name greeter -- "$PWD/target/debug/examples/session_agent" "say hello"
//! ```

use serde_json::{Value, json};
use tether_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("TETHER_URL")?;
    let token = std::env::var("TETHER_TOKEN")?;
    let session = std::env::var("TETHER_SESSION_ID")?;
    let task = std::env::args().nth(1).unwrap_or_else(|| "an unnamed task".into());
    println!("session {session}: connecting to {url}");

    let client = Client::builder(&url)
        .token(token)
        .on_request("tools.execute", |params: Value| async move { Ok(json!({"echo": params["parameters"]})) })
        .connect()
        .await?;
    client.call_raw("tools.register", json!([{"name": "echo", "description": "echoes its parameters"}])).await?;
    let run = client.call_raw("runs.start", json!({"intent": task})).await?;
    let run_id = run["run_id"].as_str().unwrap_or_default().to_owned();
    println!("run {run_id} started as {}", run["agent_id"]);

    let proposal = json!({"proposal": {"actions": [
        {"id": "a1", "type": "tool_call", "tool": "echo", "parameters": {"prompt": task}}
    ]}});
    let result = client.call_raw("proposal.submit", proposal).await?;
    println!("proposal: {}", result["results"][0]["status"]);

    let outcome = json!({"status": "success", "summary": format!("did: {task}")});
    client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await?;
    println!("run {run_id} completed");
    Ok(())
}
