//! `tether hook`: a Claude Code `type: "command"` hook. Reads the hook JSON on
//! stdin, forwards it to the daemon, prints `hook_output`. Exit codes follow
//! Claude Code: 0 success, 2 blocks.
//!
//! A permission hook (PreToolUse, PermissionRequest) is never let through for want
//! of a judgement: a payload too large or too deep to send whole is sent in its
//! bounded form (`tether_core::skim`: its names, the head of its tool input), and
//! when the daemon still cannot judge it (unreachable, refusing, failing) the hook
//! exits 2 unless `--fail-open`. Other events fail open unless `--fail-closed`.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::cli::HookArgs;

const BLOCK: u8 = 2;

/// How much of a cut `tool_input`'s raw text the bounded form keeps.
const INPUT_HEAD_BYTES: usize = 4096;

/// The events whose answer is a permission: these fail closed.
const PERMISSION_EVENTS: [&str; 2] = ["PreToolUse", "PermissionRequest"];

pub fn run(args: HookArgs) -> ExitCode {
    let stdin = match read_stdin(args.max_bytes) {
        Ok(stdin) => stdin,
        Err(e) => return cannot_judge(&args, None, &format!("cannot read the hook from stdin: {e}")),
    };
    let event = stdin.event().map(str::to_owned);
    if stdin.whole.is_none() && stdin.form.is_none() {
        return cannot_judge(&args, event.as_deref(), "stdin is not a JSON object");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return cannot_judge(&args, event.as_deref(), &e.to_string()),
    };
    let limit = Duration::from_millis(args.timeout_ms + args.wait_ms);
    let answer = runtime.block_on(async { tokio::time::timeout(limit, judge(&args, stdin)).await });
    let result = match answer {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => return cannot_judge(&args, event.as_deref(), &e),
        Err(_) => {
            return cannot_judge(&args, event.as_deref(), &format!("no answer within {} ms", limit.as_millis()));
        }
    };
    println!("{}", result["hook_output"]);
    if event.as_deref() == Some("PreToolUse") && result["decision"] == "deny" {
        eprintln!("{}", result["reason"].as_str().unwrap_or("denied by tether policy"));
        return ExitCode::from(BLOCK);
    }
    ExitCode::SUCCESS
}

/// What stdin held: the payload parsed whole (when it fit `--max-bytes` and parsed),
/// and its bounded form (always read, whatever its size or depth).
struct Stdin {
    whole: Option<Value>,
    form: Option<Map<String, Value>>,
    /// Why the whole payload is not available, when it is not.
    why: String,
}

impl Stdin {
    fn event(&self) -> Option<&str> {
        let whole = self.whole.as_ref().and_then(|w| w.get("hook_event_name"));
        whole.or_else(|| self.form.as_ref()?.get("hook_event_name"))?.as_str()
    }
}

fn read_stdin(max_bytes: usize) -> std::io::Result<Stdin> {
    let mut skim = tether_core::skim::Skim::new(INPUT_HEAD_BYTES);
    let mut kept = Vec::new();
    let mut buf = vec![0; 64 << 10];
    let mut stdin = std::io::stdin().lock();
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        skim.feed(&buf[..n]);
        if skim.total() <= max_bytes as u64 {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    let total = skim.total();
    let (whole, why) = if total > max_bytes as u64 {
        (None, format!("the hook is {total} bytes, more than tether hook --max-bytes {max_bytes}"))
    } else {
        match serde_json::from_slice::<Value>(&kept) {
            Ok(value @ Value::Object(_)) => (Some(value), String::new()),
            Ok(_) => (None, "not a JSON object".to_owned()),
            Err(e) => (None, format!("the hook could not be parsed whole: {e}")),
        }
    };
    Ok(Stdin { whole, form: skim.finish(), why })
}

/// The whole payload, or its bounded form; and the bounded form again if the
/// daemon refuses the whole (its own size and depth limits may be lower).
async fn judge(args: &HookArgs, stdin: Stdin) -> Result<Value, String> {
    let why = match stdin.whole {
        Some(whole) => match forward(args, whole).await {
            Ok(result) => return Ok(result),
            Err(Failure::Unreachable(e)) => return Err(e),
            Err(Failure::Refused(e)) => format!("the daemon refused the whole hook: {e}"),
        },
        None => stdin.why,
    };
    let Some(mut form) = stdin.form.filter(|f| f.contains_key("hook_event_name")) else {
        return Err(why);
    };
    form.insert("bounded".into(), why.into());
    forward(args, Value::Object(form)).await.map_err(|(Failure::Unreachable(e) | Failure::Refused(e))| e)
}

enum Failure {
    /// No connection: another try would not reach it either.
    Unreachable(String),
    /// Reached, but no answer to this payload (an error, or the connection dropped).
    Refused(String),
}

async fn forward(args: &HookArgs, mut payload: Value) -> Result<Value, Failure> {
    if args.wait_ms > 0 {
        payload["wait_ms"] = args.wait_ms.into();
    }
    // A managed session's process has one (tether sets it): the hook's span goes under it.
    if let (Ok(traceparent), Some(map)) = (std::env::var("TRACEPARENT"), payload.as_object_mut()) {
        map.entry("traceparent").or_insert(traceparent.into());
    }
    // --url, --socket, $TETHER_URL (set for managed sessions), the local socket, the default port.
    let client = crate::connect::connect(&args.target).await.map_err(Failure::Unreachable)?;
    let result = client.call_raw("hooks.ingest", payload).await.map_err(|e| Failure::Refused(e.to_string()));
    client.close();
    result
}

/// The daemon could not judge the hook: a permission blocks unless `--fail-open`;
/// any other event goes on unless `--fail-closed`.
fn cannot_judge(args: &HookArgs, event: Option<&str>, why: &str) -> ExitCode {
    eprintln!("tether hook: {why}");
    let permission = event.is_some_and(|e| PERMISSION_EVENTS.contains(&e));
    let block = args.fail_closed || (permission && !args.fail_open);
    if block { ExitCode::from(BLOCK) } else { ExitCode::SUCCESS }
}
