//! Durable turns per second at 1, 8 and 64 concurrent runs, next to a raw
//! write+fdatasync loop on the same disk; then at 1 and 64 runs beside the ceiling
//! of a durable turn (`benches/peers`' `durable`: the callback, one write and
//! `fdatasync` with group commit, nothing else) and beside the same ceiling sending
//! CAR's frames whole (`--car-frames`), all driven by the same client
//! process (`bench-peers turns`), with each server's CPU per turn (user and system)
//! and context switches per turn (every thread, from `/proc`); instructions per
//! durable turn under callgrind,
//! tether beside that ceiling (they do not move with the machine's noise; skipped
//! when valgrind is missing); and boot time at 100k and 1M records, beside
//! reading the same bytes sequentially. Run with `cargo bench --bench runs`; name
//! sections to run only those (`cargo bench --bench runs -- instructions boot`).

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peers::{self, Server, median};
use common::{Daemon, TOKEN, turns_per_second};
use serde_json::json;
use tether_store::{Journal, JournalOptions, Kind, RealFsync, Record};
use ulid::Ulid;

mod common;

const RUN_FOR: Duration = Duration::from_secs(3);

const SECTIONS: [&str; 4] = ["turns", "ceiling", "instructions", "boot"];

fn main() {
    // `BENCH_KEEP=1` keeps the boot section's journals (printed) to profile a
    // daemon's start on them.
    let named: Vec<String> = std::env::args().skip(1).filter(|a| SECTIONS.contains(&a.as_str())).collect();
    let wants = |section: &str| named.is_empty() || named.iter().any(|n| n == section);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();
    if wants("turns") {
        turns(&runtime, dir.path());
    }
    if wants("ceiling") {
        ceiling(dir.path());
    }
    if wants("instructions") {
        instructions(dir.path());
    }
    if wants("boot") {
        for runs in [10_000, 100_000] {
            runtime.block_on(boot(&dir.path().join(format!("boot-{runs}")), runs));
        }
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("kept: {}", dir.keep().display());
    }
}

fn turns(runtime: &tokio::runtime::Runtime, dir: &std::path::Path) {
    let raw = raw_fsync_rate(dir);
    println!("raw write+fdatasync loop (200-byte records, same disk): {raw:.0} syncs/s");
    let daemon = Daemon::start(&common::tether_bin(), &dir.join("data"), &[]);
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
}

/// Rounds of the ceiling comparison, and how long each server is driven in one.
/// Many short rounds, each ratio taken against the ceiling's round beside it: the
/// disk's sync time drifts over seconds, and one pair of rounds ranges 0.76–0.98×.
const CEILING_ROUNDS: usize = 10;
const CEILING_ROUND: Duration = Duration::from_millis(1500);

/// tether and the durable-turn ceiling, alternating round by round, each driven by
/// `bench-peers turns` (a process of its own); medians printed, and the median of the
/// rounds' ratios with their range.
/// tether on `data`, its command wrapped in `wrap` (callgrind) if any.
fn tether_server(data: &std::path::Path, wrap: &[&str]) -> Server {
    let mut command = match wrap.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(common::tether_bin());
            command
        }
        None => Command::new(common::tether_bin()),
    };
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("TETHER_TOKEN", TOKEN)
        .env("RUST_LOG", "warn");
    Server::spawn("tether", command, true, None)
}

/// The durable-turn ceiling (`bench-peers durable`) writing in `dir`, wrapped like
/// `tether_server`, with `extra` arguments (`--car-frames`).
fn ceiling_server(bin: &std::path::Path, dir: &std::path::Path, wrap: &[&str], extra: &[&str]) -> Server {
    std::fs::create_dir_all(dir).unwrap();
    let mut command = Command::new(wrap.first().copied().unwrap_or(bin.to_str().unwrap()));
    if !wrap.is_empty() {
        command.args(&wrap[1..]).arg(bin);
    }
    command.args(["durable", dir.to_str().unwrap()]).args(extra);
    Server::spawn("durable", command, false, None)
}

fn ceiling(dir: &std::path::Path) {
    let bin = peers::build();
    let tether = tether_server(&dir.join("ceiling-tether"), &[]);
    let raw = ceiling_server(&bin, &dir.join("ceiling-raw"), &[], &[]);
    // The same ceiling sending frames with every field tether's carry: what the
    // protocol's bytes cost, apart from tether's code.
    let framed = ceiling_server(&bin, &dir.join("ceiling-framed"), &[], &["--car-frames"]);
    for runs in [1, 64] {
        let mut samples = [vec![], vec![], vec![], vec![], vec![], vec![]];
        let (mut ratios, mut framed_ratios) = (Vec::new(), Vec::new());
        // Each server's CPU over all its rounds, and the turns it made in them.
        let mut cpu = [(0.0, 0.0, 0.0); 3];
        let mut switches = [0u64; 3];
        // Each server's p50 of a turn's two halves, per round (`Load::call_p50_us`).
        let mut halves: [(Vec<f64>, Vec<f64>); 3] = Default::default();
        for _ in 0..CEILING_ROUNDS {
            for (i, server) in [&tether, &raw, &framed].into_iter().enumerate() {
                let (user, system) = server.cpu_seconds();
                let switched = server.context_switches();
                let load = peers::turns(&bin, server, runs, CEILING_ROUND.as_secs_f64());
                let (user_after, system_after) = server.cpu_seconds();
                switches[i] += server.context_switches().saturating_sub(switched);
                cpu[i].0 += user_after - user;
                cpu[i].1 += system_after - system;
                cpu[i].2 += load.turns_all;
                samples[i * 2].push(load.rate);
                samples[i * 2 + 1].push(load.p50_us);
                halves[i].0.push(load.call_p50_us);
                halves[i].1.push(load.answer_p50_us);
            }
            ratios.push(samples[0].last().unwrap() / samples[2].last().unwrap());
            framed_ratios.push(samples[0].last().unwrap() / samples[4].last().unwrap());
        }
        let (low, high) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), r| (l.min(*r), h.max(*r)));
        let [t, t50, c, c50, f, f50] = samples.map(median);
        println!(
            "durable turns, {runs} run(s), same client process: tether {t:.0}/s (p50 {t50:.0} us) | ceiling \
             (callback + group-committed write + fdatasync) {c:.0}/s (p50 {c50:.0} us) | ratio {:.3}, median of \
             {CEILING_ROUNDS} rounds (range {low:.2}-{high:.2}; target >= 0.95)",
            median(ratios)
        );
        println!(
            "durable turns, {runs} run(s), the ceiling with CAR's frames (every field tether's carry): \
             {f:.0}/s (p50 {f50:.0} us), {:.3}x the plain ceiling | tether ÷ it {:.3}, median of {CEILING_ROUNDS} rounds",
            f / c,
            median(framed_ratios)
        );
        // The server's CPU per turn does not move with the machine's noise as much as
        // turns per second do: at 64 runs it is what the rate is made of.
        let per_turn = |(user, system, turns): (f64, f64, f64)| (user / turns * 1e6, system / turns * 1e6);
        let [(tu, ts), (cu, cs), (fu, fs)] = cpu.map(per_turn);
        println!(
            "CPU per durable turn, {runs} run(s), every thread of the server (us, user + system): \
             tether {tu:.1} + {ts:.1} | ceiling {cu:.1} + {cs:.1} (with CAR's frames {fu:.1} + {fs:.1}) | \
             user {:.2}x, system {:.2}x, all {:.2}x",
            tu / cu,
            ts / cs,
            (tu + ts) / (cu + cs)
        );
        // Which side of the callback a gap is on: the proposal's way to `tools.execute`,
        // or the reply's way through the journal to the answer.
        let [(tc, ta), (cc, ca), (fc, fa)] = halves.map(|(call, answer)| (median(call), median(answer)));
        println!(
            "a durable turn's halves at p50, {runs} run(s), medians of rounds (us): proposal to tools.execute \
             tether {tc:.0} | ceiling {cc:.0} (with CAR's frames {fc:.0}); reply to answer tether {ta:.0} | \
             ceiling {ca:.0} (with CAR's frames {fa:.0})"
        );
        // A hop between threads is a switch: tether should make none the ceiling does not.
        let [ts, cs, fs] = [0, 1, 2].map(|i| switches[i] as f64 / cpu[i].2);
        println!(
            "context switches per durable turn, {runs} run(s), every thread of the server: tether {ts:.2} | \
             ceiling {cs:.2} (with CAR's frames {fs:.2}) | {:.2}x",
            ts / cs
        );
    }
}

/// Instructions per durable turn (1 run), tether and the ceiling each under
/// callgrind: a short and a long burst of turns, the difference divided by the extra
/// turns (start-up, connection and run set-up, and shutdown left out). Every thread of
/// the server counts: the runtime's, the journal's writer, the ceiling's writer.
fn instructions(dir: &std::path::Path) {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("instructions per durable turn: skipped (no valgrind)");
        return;
    }
    let bin = peers::build();
    let (short, long) = (200u64, 1_200u64);
    let mut per_turn = Vec::new();
    for name in ["tether", "ceiling"] {
        let mut totals = Vec::new();
        for (n, count) in [short, long].into_iter().enumerate() {
            let out = dir.join(format!("callgrind-{name}-{n}.out"));
            let file = format!("--callgrind-out-file={}", out.display());
            let wrap = ["valgrind", "--tool=callgrind", "--quiet", file.as_str()];
            let data = dir.join(format!("instructions-{name}-{n}"));
            let server = match name {
                "tether" => tether_server(&data, &wrap),
                _ => ceiling_server(&bin, &data, &wrap, &[]),
            };
            peers::turns_counted(&bin, &server, count);
            server.stop();
            totals.push(peers::callgrind_total(&out));
        }
        per_turn.push((totals[1] - totals[0]) as f64 / (long - short) as f64);
    }
    let [t, c] = [per_turn[0], per_turn[1]];
    println!(
        "instructions per durable turn (callgrind, 1 run, every thread): tether {t:.0} | ceiling (callback + \
         group-committed write + fdatasync) {c:.0} | tether/ceiling {:.2}",
        t / c
    );
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

/// Writes `runs` ended runs of 10 records each (100 runs per agent), then times
/// opening them, beside reading the same files sequentially (both from the page
/// cache: they were just written). Retention is off in both opens: otherwise the
/// first would evict all but 50 runs per agent and the daemon would boot on tombstones.
async fn boot(dir: &std::path::Path, runs: u32) {
    let per_run = 10u32;
    {
        let (journal, _) = Journal::open(&dir.join("journal"), JournalOptions::default(), Arc::new(RealFsync)).unwrap();
        let mut batch = Vec::new();
        for n in 0..runs {
            let id = Ulid::new();
            let run_id = id.to_string();
            let agent = format!("boot-{}", n / 100);
            let started = json!({"record":"started","run_id":run_id,"agent_id":agent,"client_id":"conn-1","intent":"boot bench","started_at":"2026-11-21T00:00:00Z"});
            batch.push(Record { kind: Kind::Started, run_id: id, seq: 0, payload: started.to_string().into_bytes() });
            for seq in 1..per_run - 1 {
                let turn = json!({"record":"turn","index":seq - 1,"proposal_id":"p","action_id":"a","tool":"echo","parameters":{"x":1},"output":{"x":1},"status":"succeeded","duration_ms":1,"attempts":1});
                batch.push(Record { kind: Kind::Turn, run_id: id, seq, payload: turn.to_string().into_bytes() });
            }
            let ended = json!({"record":"ended","run_id":run_id,"agent_id":agent,"termination":{"kind":"incomplete"},"ended_at":"2026-11-21T00:00:01Z"});
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
    let mut read = 0;
    for entry in std::fs::read_dir(dir.join("journal")).unwrap() {
        read += std::fs::read(entry.unwrap().path()).unwrap().len();
    }
    let sequential = start.elapsed();
    assert_eq!(read as u64, bytes);
    let start = Instant::now();
    let (journal, recovered) =
        Journal::open(&dir.join("journal"), JournalOptions::default(), Arc::new(RealFsync)).unwrap();
    let scanned = start.elapsed();
    let count = recovered.runs.len();
    let events = tether_events::EventBus::new(Default::default());
    let no_retention = tether_runs::RunsConfig { retain_runs_per_agent: 0, retain_days: 0, ..Default::default() };
    let kept =
        tether_runs::Runs::open(Arc::new(journal), recovered, no_retention, events, Arc::new(tether_telemetry::Nobody))
            .await
            .unwrap();
    let opened = start.elapsed();
    println!(
        "boot: {count} runs, {} records, {} MiB: reading the same bytes sequentially {:.3} s | journal scan {:.3} s \
         | runs ready {:.3} s (target < 2 s) | ratio ready/read {:.1}",
        runs * per_run,
        bytes >> 20,
        sequential.as_secs_f64(),
        scanned.as_secs_f64(),
        opened.as_secs_f64(),
        opened.as_secs_f64() / sequential.as_secs_f64()
    );
    drop(kept);
    let config = dir.join("config.toml");
    std::fs::write(&config, "[runs]\nretain_runs_per_agent = 0\nretain_days = 0\n").unwrap();
    let start = Instant::now();
    let daemon = Daemon::start(&common::tether_bin(), dir, &["--config", config.to_str().unwrap()]);
    println!(
        "boot: the daemon printed its ready line (accepting connections) {:.3} s after exec",
        start.elapsed().as_secs_f64()
    );
    drop(daemon);
}
