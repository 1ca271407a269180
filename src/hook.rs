//! `tether hook`: a Claude Code `type: "command"` hook. Reads the hook JSON on
//! stdin, forwards it to the daemon, prints `hook_output`. Exit codes follow
//! Claude Code: 0 success, 2 blocks (a PreToolUse deny, or an unreachable daemon
//! with `--fail-closed`).

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::cli::HookArgs;

const BLOCK: u8 = 2;

pub fn run(args: HookArgs) -> ExitCode {
    let mut input = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut input) {
        return unreachable(&args, &format!("cannot read the hook from stdin: {e}"));
    }
    let payload: Value = match serde_json::from_str(&input) {
        Ok(value @ Value::Object(_)) => value,
        _ => return unreachable(&args, "stdin is not a JSON object"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return unreachable(&args, &e.to_string()),
    };
    let limit = Duration::from_millis(args.timeout_ms + args.wait_ms);
    let answer = runtime.block_on(async { tokio::time::timeout(limit, forward(&args, payload.clone())).await });
    let result = match answer {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => return unreachable(&args, &e),
        Err(_) => return unreachable(&args, &format!("no answer within {} ms", limit.as_millis())),
    };
    println!("{}", result["hook_output"]);
    let event = payload["hook_event_name"].as_str().unwrap_or_default();
    if event == "PreToolUse" && result["decision"] == "deny" {
        eprintln!("{}", result["reason"].as_str().unwrap_or("denied by tether policy"));
        return ExitCode::from(BLOCK);
    }
    ExitCode::SUCCESS
}

async fn forward(args: &HookArgs, mut payload: Value) -> Result<Value, String> {
    if args.wait_ms > 0 {
        payload["wait_ms"] = args.wait_ms.into();
    }
    // --url, --socket, $TETHER_URL (set for managed sessions), the local socket, the default port.
    let client = crate::connect::connect(&args.target).await?;
    let result = client.call_raw("hooks.ingest", payload).await.map_err(|e| e.to_string())?;
    client.close();
    Ok(result)
}

/// The daemon could not answer: block only when asked to fail closed.
fn unreachable(args: &HookArgs, why: &str) -> ExitCode {
    eprintln!("tether hook: {why}");
    if args.fail_closed { ExitCode::from(BLOCK) } else { ExitCode::SUCCESS }
}
