//! A replay of a 1,000-turn run against its recording.
//!
//! A release `tether serve` in its own process; this bench is the harness, in another.
//! It records a run of `TURNS` one-action proposals (`proposal.submit` after
//! `proposal.submit`, as an agent loop without a model would: the ceiling a replay is
//! compared with, since both journal one durable turn per `tools.execute`), then
//! replays it with one `runs.replay` (the daemon re-issues each recorded call to the
//! same tool and journals it), and prints each one's wall time and turns per second,
//! and their ratio, for `ROUNDS` rounds.
//!
//! `cargo bench --bench replay`; `TETHER_BIN=/path/to/tether` measures another build,
//! `REPLAY_TURNS` and `REPLAY_ROUNDS` change the size.

use std::time::Instant;

use common::{Daemon, TOKEN};
use serde_json::{Value, json};

mod common;

fn main() {
    let turns: usize = std::env::var("REPLAY_TURNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000);
    let rounds: usize = std::env::var("REPLAY_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let bin = std::env::var("TETHER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tether").to_owned());
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&bin, &dir.path().join("data"), &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    println!("{turns} turns, one tools.execute and one durable turn each");
    println!(
        "{:<6} {:>12} {:>10} {:>12} {:>10} {:>8}",
        "round", "record (s)", "turns/s", "replay (s)", "turns/s", "ratio"
    );
    runtime.block_on(async {
        let client = tether_client::Client::builder(&daemon.url)
            .token(TOKEN)
            .on_request("tools.execute", |params: Value| async move {
                Ok(json!({"total": params["parameters"]["n"].as_i64().unwrap_or(0) * 2}))
            })
            .connect()
            .await
            .unwrap();
        client.call_raw("tools.register", json!([{"name": "double"}])).await.unwrap();
        for round in 1..=rounds {
            let started = client.call_raw("runs.start", json!({"intent": "bench", "agent_id": "bench"})).await.unwrap();
            let run_id = started["run_id"].as_str().unwrap().to_owned();
            let recording = Instant::now();
            for n in 0..turns {
                let action = json!({"id": "a1", "type": "tool_call", "tool": "double", "parameters": {"n": n}});
                let proposal = json!({"proposal": {"id": format!("p{n}"), "actions": [action]}});
                client.call_raw("proposal.submit", proposal).await.unwrap();
            }
            let recorded = recording.elapsed().as_secs_f64();
            let outcome = json!({"status": "success", "summary": "recorded"});
            client.call_raw("runs.complete", json!({"run_id": run_id, "outcome": outcome})).await.unwrap();

            let replaying = Instant::now();
            let replayed = client.call_raw("runs.replay", json!({"run_id": run_id})).await.unwrap();
            let replay = replaying.elapsed().as_secs_f64();
            assert_eq!(replayed["diff"]["counts"]["same"], turns, "{}", replayed["diff"]["counts"]);
            println!(
                "{round:<6} {recorded:>12.3} {:>10.0} {replay:>12.3} {:>10.0} {:>7.2}×",
                turns as f64 / recorded,
                turns as f64 / replay,
                recorded / replay
            );
        }
    });
}
