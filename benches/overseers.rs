//! A reviewed hook's added latency over a policy-only hook.
//!
//! A release `tether serve` in its own process, with a policy that sends `Bash` to an
//! overseer (`decision = "review"`) and allows `Read` by rule. A trivial overseer (it
//! answers `allow` at once) runs in a process of its own (this binary, `--overseer`);
//! this process is the hook client. One `hooks.ingest` at a time, each form in turn in
//! the same run: the policy-only hook (`Read`: the ceiling) and the reviewed hook
//! (`Bash`: the same plus a `hooks.review` round trip to the overseer and its event).
//! Both pay the same audit line (fsynced before the answer). p50/p99 and the ratio to
//! the ceiling are printed.
//!
//! `cargo bench --bench overseers`; `TETHER_BIN=/path/to/tether` measures another build.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{Daemon, TOKEN};
use serde_json::{Value, json};

mod common;

const CALLS: usize = 2_000;
const WARMUP: usize = 200;
/// Forms alternate in rounds, so a slow spell of the machine hits both alike.
const ROUNDS: usize = 4;

const POLICY: &str = r#"
[[rules]]
name = "review-bash"
event = "PreToolUse"
tool = "Bash"
decision = "review"

[[rules]]
name = "reads"
event = "PreToolUse"
tool = "Read"
decision = "allow"
"#;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if let Some(at) = args.iter().position(|a| a == "--overseer") {
        runtime.block_on(overseer(&args[at + 1]));
        return;
    }
    let bin = std::env::var("TETHER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tether").to_owned());
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(&config, format!("[hooks]\npolicy_file = {:?}\n", policy.to_str().unwrap())).unwrap();
    let daemon = Daemon::start(&bin, &dir.path().join("data"), &["--config", config.to_str().unwrap()]);

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--overseer", daemon.url.as_str()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");

    let (policy_only, reviewed) = runtime.block_on(measure(&daemon.url));
    let _ = child.kill();
    let _ = child.wait();

    println!("one hooks.ingest at a time, {CALLS} calls per form after {WARMUP} warm-up (µs)");
    println!("{:<12} {:>8} {:>8} {:>10} {:>10} {:>12}", "form", "p50", "p99", "p50 ratio", "p99 ratio", "added p50");
    let (base50, base99) = (percentile(&policy_only, 0.5), percentile(&policy_only, 0.99));
    for (name, samples) in [("policy-only", &policy_only), ("reviewed", &reviewed)] {
        let (p50, p99) = (percentile(samples, 0.5), percentile(samples, 0.99));
        println!(
            "{name:<12} {p50:>8.0} {p99:>8.0} {:>9.2}× {:>9.2}× {:>+11.0}",
            p50 / base50,
            p99 / base99,
            p50 - base50
        );
    }
}

fn hook(tool: &str) -> Value {
    json!({"hook_event_name": "PreToolUse", "session_id": "bench", "tool_name": tool,
           "tool_input": {"command": "ls -la", "file_path": "/tmp/x"}})
}

/// (policy-only, reviewed) latencies in µs.
async fn measure(url: &str) -> (Vec<f64>, Vec<f64>) {
    let client = tether_client::Client::builder(url).token(TOKEN).connect().await.unwrap();
    let (read, bash) = (hook("Read"), hook("Bash"));
    for _ in 0..WARMUP {
        client.call_raw("hooks.ingest", read.clone()).await.unwrap();
        let reviewed = client.call_raw("hooks.ingest", bash.clone()).await.unwrap();
        assert_eq!(reviewed["review"]["overseer"], "bench", "the overseer decides: {reviewed}");
    }
    let (mut policy_only, mut reviewed) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
    for _ in 0..ROUNDS {
        for (payload, samples) in [(&read, &mut policy_only), (&bash, &mut reviewed)] {
            for _ in 0..CALLS / ROUNDS {
                let start = Instant::now();
                let answer = client.call_raw("hooks.ingest", payload.clone()).await.unwrap();
                samples.push(start.elapsed().as_secs_f64() * 1e6);
                assert_eq!(answer["decision"], "allow");
            }
        }
    }
    (policy_only, reviewed)
}

/// The trivial overseer: allows everything at once.
async fn overseer(url: &str) {
    let client = tether_client::Client::builder(url)
        .token(TOKEN)
        .on_request("hooks.review", |_| async { Ok(json!({"decision": "allow"})) })
        .connect()
        .await
        .unwrap();
    client.call_raw("overseers.register", json!({"name": "bench", "tools": ["Bash"]})).await.unwrap();
    println!("ready");
    client.closed().await;
}

fn percentile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}
