//! Durable turns per second on the PostgreSQL store, at 1 and 64 concurrent runs,
//! beside (a) a raw loop of the same fenced update-and-insert statement through
//! the same driver (tokio-postgres), one connection per run, one turn per commit,
//! in the same run: what a client of this schema gets without tether; and (b) the local journal. The daemon runs
//! in its own process; PostgreSQL is Debian's, started in a temporary directory
//! with fsync on. Run with `cargo bench --bench pg`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Daemon, turns_per_second};
use tether_pg::testing::Postgres;
use tokio_postgres::NoTls;

mod common;

const RUN_FOR: Duration = Duration::from_secs(3);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let pg = Postgres::start(true).expect("PostgreSQL (scripts/postgres-env installs it)");
    pg.create_database("tether").unwrap();
    let url = pg.url("tether");
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();

    let config = dir.path().join("tether.toml");
    std::fs::write(&config, format!("[store]\nurl = \"{url}\"\nnode_name = \"bench\"\n")).unwrap();
    let on_pg = Daemon::start(&common::tether_bin(), &dir.path().join("pg"), &["--config", config.to_str().unwrap()]);
    let on_journal = Daemon::start(&common::tether_bin(), &dir.path().join("journal"), &[]);
    for runs in [1, 64] {
        let raw = runtime.block_on(raw_fenced_commits(&url, runs));
        let pg_rate = runtime.block_on(turns_per_second(&on_pg.url, runs, true));
        let journal = runtime.block_on(turns_per_second(&on_journal.url, runs, true));
        println!(
            "durable turns/s, {runs} run(s): PostgreSQL store {pg_rate:.0} | raw fenced commits through tokio-postgres {raw:.0} \
             = {:.2}x the raw loop | local journal {journal:.0} ({:.2}x PostgreSQL)",
            pg_rate / raw,
            journal / pg_rate
        );
        if runs == 1 {
            // The raw loop has no WebSocket client and no tools.execute: the same
            // proposal loop without a run (no store write) is what a turn adds to it.
            let bare = runtime.block_on(turns_per_second(&on_pg.url, 1, false));
            let (turn, commit, callback) = (1e6 / pg_rate, 1e6 / raw, 1e6 / bare);
            println!(
                "  1 run, per turn: tether on PostgreSQL {turn:.0} us = raw commit {commit:.0} us + {:.0} us; the proposal \
                 and tools.execute round trips alone (no store write) take {callback:.0} us ({bare:.0}/s): tether's own \
                 share of the gap is {:.0} us",
                turn - commit,
                turn - commit - callback
            );
        }
    }
}

/// One connection per run, each committing one turn per statement (one round
/// trip, autocommit) under the same fence and contiguity checks the store's
/// batch statement makes.
async fn raw_fenced_commits(url: &str, runs: usize) -> f64 {
    let (setup, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let node = format!("raw-{runs}");
    let counted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..runs {
        let run_id = format!("raw-{runs}-{r}");
        setup
            .execute(
                "INSERT INTO tether_runs (run_id, agent_id, owner_node, fence, records) VALUES ($1, 'raw', $2, 1, 1)",
                &[&run_id, &node],
            )
            .await
            .unwrap();
        let (url, node, counted) = (url.to_owned(), node.clone(), counted.clone());
        tasks.push(tokio::spawn(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
            tokio::spawn(connection);
            let payload = br#"{"record":"turn","index":0,"tool":"echo","parameters":{"x":1},"output":{"x":1},"status":"succeeded"}"#.to_vec();
            let mut seq = 1i32;
            while start.elapsed() < RUN_FOR {
                let n = client
                    .execute(
                        "WITH run AS (
                             UPDATE tether_runs SET records = records + 1, turns = turns + 1
                             WHERE run_id = $1 AND fence = 1 AND owner_node = $2 AND records = $3 AND NOT ended
                             RETURNING run_id)
                         INSERT INTO tether_records (run_id, seq, kind, fence, payload)
                         SELECT run_id, $3, 2, 1, $4 FROM run",
                        &[&run_id, &node, &seq, &payload],
                    )
                    .await
                    .unwrap();
                assert_eq!(n, 1);
                seq += 1;
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    counted.load(std::sync::atomic::Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}
