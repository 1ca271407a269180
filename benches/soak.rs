//! A soak: churn against a daemon in its own process for a given time, printing
//! every interval what it holds (runs and turns done, RSS, descriptors, journal
//! files and bytes) and, at the end, how long it takes to boot on what it left.
//! What grows with history rather than with what is live shows here.
//!
//! `cargo bench --bench soak`, or build it (`cargo build --bench soak`) and run the
//! binary; settings from the environment:
//! - `SOAK_SECS` (300), `SOAK_INTERVAL_SECS` (30): how long, how often to print;
//! - `SOAK_CONNECTIONS` (16): connections, each looping short runs of its own agent
//!   (start, `SOAK_PROPOSALS` (5) one-action proposals, complete);
//! - `SOAK_SEGMENT_BYTES` (1048576), `SOAK_RETAIN` (5): the journal's segment size
//!   and `runs.retain_runs_per_agent`;
//! - `SOAK_RATE` (0: as fast as it goes): turns per second across all connections, so
//!   an hour of steady churn below saturation can be run beside other work;
//! - `SOAK_POSTGRES=1`: keep runs in a throwaway PostgreSQL cluster (Debian's server,
//!   as the tests start one) instead of the journal, and print its rows and table sizes;
//! - `SOAK_TETHER`: the daemon binary (default: the one built with this bench), so
//!   another build's daemon can be soaked by the same driver;
//! - `BENCH_DIR`: where the data directory goes (default `.`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Daemon, TOKEN};
use serde_json::{Value, json};

mod common;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// RSS of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// Segment files and their bytes, and every file of the journal directory.
fn journal(data: &Path) -> (usize, u64, usize) {
    let mut segments = 0;
    let mut bytes = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(data.join("journal")).into_iter().flatten().flatten() {
        files += 1;
        let name = entry.file_name().into_string().unwrap_or_default();
        if name.starts_with("seg-") && name.ends_with(".log") {
            segments += 1;
            bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    (segments, bytes, files)
}

/// Starts the daemon and returns it with how long it took to be ready.
fn boot(bin: &str, data: &Path, config: &Path) -> (Daemon, Duration) {
    let start = Instant::now();
    let daemon = Daemon::start(bin, data, &["--config", config.to_str().unwrap()]);
    (daemon, start.elapsed())
}

fn main() {
    let secs = setting("SOAK_SECS", 300);
    let interval = setting("SOAK_INTERVAL_SECS", 30);
    let connections = setting("SOAK_CONNECTIONS", 16) as usize;
    let proposals = setting("SOAK_PROPOSALS", 5);
    let segment_bytes = setting("SOAK_SEGMENT_BYTES", 1 << 20);
    let retain = setting("SOAK_RETAIN", 5);
    let rate = setting("SOAK_RATE", 0);
    let bin = std::env::var("SOAK_TETHER").unwrap_or_else(|_| env!("CARGO_BIN_EXE_tether").to_owned());
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("tether.toml");
    let pg = (setting("SOAK_POSTGRES", 0) == 1).then(|| {
        let pg = tether_pg::testing::Postgres::start(true).expect("a PostgreSQL server (scripts/postgres-env)");
        pg.create_database("tether").unwrap();
        pg
    });
    let store = pg.as_ref().map(|pg| format!("[store]\nurl = \"{}\"\n", pg.url("tether"))).unwrap_or_default();
    std::fs::write(
        &config,
        format!("[runs]\nretain_runs_per_agent = {retain}\n[journal]\nsegment_bytes = {segment_bytes}\n{store}"),
    )
    .unwrap();
    // On PostgreSQL: rows of runs and records, and the tether tables' bytes on disk.
    let database = || {
        pg.as_ref().map(|pg| {
            let count = |table: &str| pg.psql("tether", &format!("SELECT count(*) FROM {table}")).unwrap_or_default();
            let bytes = pg
                .psql("tether", "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relname LIKE 'tether_%' AND relkind = 'r'")
                .unwrap_or_default();
            format!("runs {} records {} events {} nodes {} bytes {bytes}", count("tether_runs"), count("tether_records"), count("tether_events"), count("tether_nodes"))
        })
    };
    let pace = if rate == 0 { "as fast as it goes".to_owned() } else { format!("{rate} turns/s") };
    println!(
        "soak: {bin}, {secs} s, {connections} connections × (start, {proposals} proposals, complete) {pace}, segments of {segment_bytes} bytes, {retain} runs kept per agent"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (daemon, first_boot) = boot(&bin, &data, &config);
    let pid = daemon.child.id();
    println!("boot on an empty data directory: {:.0} ms", first_boot.as_secs_f64() * 1e3);
    let runs = Arc::new(AtomicU64::new(0));
    let turns = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    runtime.block_on(async {
        let mut workers = Vec::new();
        for c in 0..connections {
            let client = tether_client::Client::builder(&daemon.url)
                .token(TOKEN)
                .on_request("tools.execute", |p: Value| async move { Ok(p["parameters"].clone()) })
                .connect()
                .await
                .unwrap();
            client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
            let (runs, turns) = (runs.clone(), turns.clone());
            workers.push(tokio::spawn(async move {
                let agent = format!("soak-{c}");
                let proposal =
                    json!({"proposal": {"actions": [{"type": "tool_call", "tool": "echo", "parameters": {"x": 1}}]}});
                // Each connection's share of the rate, one tick per turn (a missed tick is
                // not made up in a burst).
                let mut ticks = (rate > 0).then(|| {
                    let every = Duration::from_secs_f64(connections as f64 / rate as f64);
                    let mut ticks = tokio::time::interval(every);
                    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    ticks
                });
                while Instant::now() < deadline {
                    let started =
                        client.call_raw("runs.start", json!({"intent": "soak", "agent_id": agent})).await.unwrap();
                    for _ in 0..proposals {
                        if let Some(ticks) = ticks.as_mut() {
                            ticks.tick().await;
                        }
                        client.call_raw("proposal.submit", proposal.clone()).await.unwrap();
                        turns.fetch_add(1, Ordering::Relaxed);
                    }
                    let done = json!({"run_id": started["run_id"], "outcome": {"status": "success"}});
                    client.call_raw("runs.complete", done).await.unwrap();
                    runs.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        println!(
            "{:>6} {:>9} {:>9} {:>8} {:>8} {:>5} {:>6} {:>12}",
            "t_s", "runs", "turns", "turns/s", "rss_MiB", "fds", "segs", "journal_B"
        );
        let start = Instant::now();
        let mut last_turns = 0;
        let mut last = start;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(interval).min(deadline.saturating_duration_since(Instant::now())))
                .await;
            let (segments, bytes, _) = journal(&data);
            let t = turns.load(Ordering::Relaxed);
            let speed = (t - last_turns) as f64 / last.elapsed().as_secs_f64();
            (last_turns, last) = (t, Instant::now());
            println!(
                "{:>6} {:>9} {:>9} {:>8.0} {:>8.1} {:>5} {:>6} {:>12} {}",
                start.elapsed().as_secs(),
                runs.load(Ordering::Relaxed),
                t,
                speed,
                rss_kib(pid) as f64 / 1024.0,
                descriptors(pid),
                segments,
                bytes,
                database().unwrap_or_default()
            );
        }
        for worker in workers {
            let _ = worker.await;
        }
    });
    let (segments, bytes, files) = journal(&data);
    drop(daemon);
    let (daemon, reboot) = boot(&bin, &data, &config);
    println!(
        "end: {} runs, {} turns; journal {segments} segments ({files} files), {bytes} bytes; boot on it: {:.0} ms, then RSS {:.1} MiB, {} descriptors",
        runs.load(Ordering::Relaxed),
        turns.load(Ordering::Relaxed),
        reboot.as_secs_f64() * 1e3,
        rss_kib(daemon.child.id()) as f64 / 1024.0,
        descriptors(daemon.child.id()),
    );
    if let Some(db) = database() {
        println!("database at the end: {db}");
    }
}
