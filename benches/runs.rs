//! Durable turns per second at 1, 8 and 64 concurrent runs, next to a raw
//! write+fdatasync loop on the same disk; and boot time for 100k runs / 1M records.
//! Run with `cargo bench --bench runs`.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Daemon, turns_per_second};
use serde_json::json;
use tether_store::{Journal, JournalOptions, Kind, RealFsync, Record};
use ulid::Ulid;

mod common;

const RUN_FOR: Duration = Duration::from_secs(3);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let raw = raw_fsync_rate(dir.path());
    println!("raw write+fdatasync loop (200-byte records, same disk): {raw:.0} syncs/s");
    let daemon = Daemon::start(env!("CARGO_BIN_EXE_tether"), &dir.path().join("data"), &[]);
    let bare = runtime.block_on(turns_per_second(&daemon.url, 1, false));
    println!("the same proposal loop without a run (callback round trips only, no journal), 1 connection: {bare:.0}/s");
    let mut one = 0.0;
    for runs in [1, 8, 64] {
        let rate = runtime.block_on(turns_per_second(&daemon.url, runs, true));
        if runs == 1 {
            one = rate;
            println!("durable turns/s, 1 run: {rate:.0} = {:.2}x the raw fsync rate (target >= 0.5)", rate / raw);
        } else {
            println!(
                "durable turns/s, {runs} runs: {rate:.0} = {:.1}x the 1-run rate ({:.2}x raw fsync)",
                rate / one,
                rate / raw
            );
        }
    }
    drop(daemon);
    runtime.block_on(boot(&dir.path().join("boot")));
}

fn raw_fsync_rate(dir: &std::path::Path) -> f64 {
    let mut file = OpenOptions::new().create(true).append(true).open(dir.join("raw.log")).unwrap();
    let record = [7u8; 200];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN_FOR {
        file.write_all(&record).unwrap();
        file.sync_data().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Writes 100,000 ended runs of 10 records each, then times opening them.
async fn boot(dir: &std::path::Path) {
    let (runs, per_run) = (100_000u32, 10u32);
    {
        let (journal, _) = Journal::open(&dir.join("journal"), JournalOptions::default(), Arc::new(RealFsync)).unwrap();
        let mut batch = Vec::new();
        for _ in 0..runs {
            let id = Ulid::new();
            let run_id = id.to_string();
            let started = json!({"record":"started","run_id":run_id,"agent_id":"boot","client_id":"conn-1","intent":"boot bench","started_at":"2026-11-21T00:00:00Z"});
            batch.push(Record { kind: Kind::Started, run_id: id, seq: 0, payload: started.to_string().into_bytes() });
            for seq in 1..per_run - 1 {
                let turn = json!({"record":"turn","index":seq - 1,"proposal_id":"p","action_id":"a","tool":"echo","parameters":{"x":1},"output":{"x":1},"status":"succeeded","duration_ms":1,"attempts":1});
                batch.push(Record { kind: Kind::Turn, run_id: id, seq, payload: turn.to_string().into_bytes() });
            }
            let ended = json!({"record":"ended","run_id":run_id,"agent_id":"boot","termination":{"kind":"incomplete"},"ended_at":"2026-11-21T00:00:01Z"});
            batch.push(Record {
                kind: Kind::Ended,
                run_id: id,
                seq: per_run - 1,
                payload: ended.to_string().into_bytes(),
            });
            if batch.len() >= 10_000 {
                journal.append(&batch).await.unwrap();
                batch.clear();
            }
        }
        journal.append(&batch).await.unwrap();
    }
    let bytes: u64 =
        std::fs::read_dir(dir.join("journal")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let start = Instant::now();
    let (journal, recovered) =
        Journal::open(&dir.join("journal"), JournalOptions::default(), Arc::new(RealFsync)).unwrap();
    let scanned = start.elapsed();
    let count = recovered.runs.len();
    let events = tether_events::EventBus::new(Default::default());
    tether_runs::Runs::open(
        Arc::new(journal),
        recovered,
        Default::default(),
        events,
        Arc::new(tether_telemetry::Nobody),
    )
    .await
    .unwrap();
    let opened = start.elapsed();
    println!(
        "boot: {count} runs, {} records, {} MiB: journal scan {:.2} s, runs ready {:.2} s (target < 2 s)",
        runs * per_run,
        bytes >> 20,
        scanned.as_secs_f64(),
        opened.as_secs_f64()
    );
    let start = Instant::now();
    let daemon = Daemon::start(env!("CARGO_BIN_EXE_tether"), dir, &[]);
    println!("boot: the daemon printed its ready line {:.2} s after exec", start.elapsed().as_secs_f64());
    drop(daemon);
}
