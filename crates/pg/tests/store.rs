//! The PostgreSQL store against a real server (Debian's, started per test in a
//! temporary directory): the shared `RunStore` contract, then what only a
//! shared store has: fences, leases, adoption, eviction, migrations under a lock.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_pg::testing::Postgres;
use tether_pg::{PgOptions, PgStore};
use tether_store::{Kind, Record, RunStore, SharedStore, StoreError};
use ulid::Ulid;

fn cluster() -> (Postgres, String) {
    let pg = Postgres::start(false).expect("a PostgreSQL server (see README, Testing)");
    pg.create_database("tether").unwrap();
    let url = pg.url("tether");
    (pg, url)
}

fn options(url: &str, name: &str) -> PgOptions {
    let mut options = PgOptions::new(url, name);
    options.lease = Duration::from_millis(800);
    options.heartbeat = Duration::from_millis(100);
    options
}

fn started(run: Ulid) -> Record {
    let payload = format!(r#"{{"record":"started","run_id":"{run}","agent_id":"agent-1"}}"#).into_bytes();
    Record { kind: Kind::Started, run_id: run, seq: 0, payload }
}

fn turn(run: Ulid, seq: u32) -> Record {
    Record {
        kind: Kind::Turn,
        run_id: run,
        seq,
        payload: format!(r#"{{"record":"turn","index":{}}}"#, seq - 1).into_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_run_store_contract() {
    let (_pg, url) = cluster();
    let mut n = 0;
    tether_store::conformance::run(|| {
        n += 1;
        let options = options(&url, &format!("conformance-{n}"));
        async move { Arc::new(PgStore::open(options).await.unwrap().0) as Arc<dyn RunStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_taken_over_by_another_node_refuses_the_old_owners_writes() {
    let (pg, url) = cluster();
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let (b, _) = PgStore::open(options(&url, "b")).await.unwrap();
    let run = Ulid::new();
    a.append(&[started(run), turn(run, 1)]).await.unwrap();
    // B cannot write a run it does not own.
    assert!(matches!(b.append(&[turn(run, 2)]).await, Err(StoreError::Fenced { run_id }) if run_id == run));
    let found = b.take_over(run).await.unwrap().expect("an open run can be taken over");
    assert_eq!(found.records, 2);
    let written = (started(run).payload.len() + turn(run, 1).payload.len()) as u64;
    assert_eq!(found.bytes, written, "what runs.max_run_bytes counts on the node taking over");
    assert!(matches!(a.append(&[turn(run, 2)]).await, Err(StoreError::Fenced { .. })), "the old owner is fenced");
    b.append(&[turn(run, 2)]).await.unwrap();
    let seqs: Vec<u32> = b.read(run, 0..10).await.unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2], "contiguous, nothing from the fenced writer");
    let fences = pg
        .psql(
            "tether",
            &format!("SELECT string_agg(fence::text, ',' ORDER BY seq) FROM tether_records WHERE run_id = '{run}'"),
        )
        .unwrap();
    assert_eq!(fences, "1,1,2", "each record carries its writer's fence");
    // A write that skips a seq is refused like a stale one (contiguity is checked in SQL).
    assert!(b.append(&[turn(run, 9)]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_take_overs_leave_one_owner() {
    let (_pg, url) = cluster();
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let (b, _) = PgStore::open(options(&url, "b")).await.unwrap();
    let (c, _) = PgStore::open(options(&url, "c")).await.unwrap();
    let run = Ulid::new();
    a.append(&[started(run)]).await.unwrap();
    let (rb, rc) = tokio::join!(b.take_over(run), c.take_over(run));
    assert!(rb.unwrap().is_some() && rc.unwrap().is_some());
    // Both bumped the fence in turn; only the later one still holds it.
    let wb = b.append(&[turn(run, 1)]).await;
    let wc = c.append(&[turn(run, 1)]).await;
    assert!(wb.is_ok() != wc.is_ok(), "exactly one of them can write: {wb:?} {wc:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_renewing_is_declared_dead_and_its_open_runs_adopted_once() {
    let (_pg, url) = cluster();
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let (b, _) = PgStore::open(options(&url, "b")).await.unwrap();
    let (c, _) = PgStore::open(options(&url, "c")).await.unwrap();
    let (open, ended) = (Ulid::new(), Ulid::new());
    a.append(&[started(open), turn(open, 1)]).await.unwrap();
    let end = Record { kind: Kind::Ended, run_id: ended, seq: 1, payload: br#"{"record":"ended"}"#.to_vec() };
    a.append(&[started(ended)]).await.unwrap();
    a.append(&[end]).await.unwrap();
    let stopped = Instant::now();
    drop(a); // its heartbeat stops with it
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut adopted = Vec::new();
    while adopted.is_empty() {
        assert!(Instant::now() < deadline, "A's runs were never adopted");
        let (from_b, from_c) = tokio::join!(b.adopt_orphans(), c.adopt_orphans());
        let (from_b, from_c) = (from_b.unwrap(), from_c.unwrap());
        assert!(from_b.is_empty() || from_c.is_empty(), "a run goes to one node");
        adopted.extend(from_b.into_iter().chain(from_c));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = stopped.elapsed();
    assert!(took >= Duration::from_millis(700), "not before the lease ran out ({took:?})");
    assert_eq!(adopted.len(), 1, "only the open run");
    assert_eq!(adopted[0].run_id, open);
    assert_eq!(adopted[0].records, 2);
    assert!(adopted[0].started.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarting_under_its_name_gets_its_open_runs_back_at_once() {
    let (_pg, url) = cluster();
    let run = Ulid::new();
    {
        let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
        a.append(&[started(run), turn(run, 1)]).await.unwrap();
    }
    let (again, recovered) = PgStore::open(options(&url, "a")).await.unwrap();
    assert_eq!(recovered.runs.iter().map(|r| r.run_id).collect::<Vec<_>>(), [run]);
    again.append(&[turn(run, 2)]).await.expect("the new process owns it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_node_drops_its_runs_and_registers_again() {
    let (pg, url) = cluster();
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let run = Ulid::new();
    a.append(&[started(run)]).await.unwrap();
    let first = a.node_id();
    // What another node's sweep does to a node that was away past its lease.
    pg.psql("tether", &format!("UPDATE tether_nodes SET state = 'dead' WHERE node_id = '{first}'")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while a.status().evictions == 0 {
        assert!(Instant::now() < deadline, "the eviction was never noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(a.node_id(), first, "a new node id");
    assert!(matches!(a.append(&[turn(run, 1)]).await, Err(StoreError::Fenced { .. })));
    let fresh = Ulid::new();
    a.append(&[started(fresh)]).await.expect("new runs work under the new id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_starting_together_migrate_once() {
    let (pg, url) = cluster();
    let opened = futures_util::future::join_all((0..4).map(|i| PgStore::open(options(&url, &format!("n{i}"))))).await;
    assert!(opened.iter().all(|o| o.is_ok()), "every node opened");
    let versions =
        pg.psql("tether", "SELECT string_agg(version::text, ',' ORDER BY version) FROM tether_migrations").unwrap();
    assert_eq!(versions, "1,2,3,4,5", "each migration applied once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_turns_survive_an_immediate_database_restart() {
    let pg = Postgres::start(true).unwrap();
    pg.create_database("tether").unwrap();
    let url = pg.url("tether");
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let run = Ulid::new();
    a.append(&[started(run)]).await.unwrap();
    for seq in 1..=50 {
        a.append(&[turn(run, seq)]).await.unwrap();
    }
    pg.restart_immediate().unwrap();
    // The writer reconnects; the first attempt after the restart may fail, never lie.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match a.append(&[turn(run, 51)]).await {
            Ok(()) => break,
            Err(StoreError::Database(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(other) => panic!("after a restart: {other}"),
        }
    }
    let seqs: Vec<u32> = a.read(run, 0..100).await.unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..=51).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_node_is_hinted_to_the_others_after_its_commit() {
    let (pg, url) = cluster();
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let (b, _) = PgStore::open(options(&url, "b")).await.unwrap();
    let mut hints = b.hints().expect("a shared store hints");
    // The listener connects in the background: write until a hint arrives.
    let run = Ulid::new();
    a.append(&[started(run)]).await.unwrap();
    let mut seq = 1;
    let hinted = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            tokio::select! {
                hint = hints.recv() => if hint.unwrap() == run { return },
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    a.append(&[turn(run, seq)]).await.unwrap();
                    seq += 1;
                }
            }
        }
    })
    .await;
    assert!(hinted.is_ok(), "no hint reached node b");
    // Hints are only hints: with the listeners cut off, the data is still in the table.
    pg.psql("tether", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'").unwrap();
    a.append(&[turn(run, seq)]).await.unwrap();
    assert_eq!(b.read(run, 0..100).await.unwrap().len(), seq as usize + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_taken_is_a_duplicate_and_any_other_conflict_keeps_its_sqlstate() {
    let (_pg, url) = cluster();
    let (a, _) = PgStore::open(options(&url, "a")).await.unwrap();
    let keyed = |run: Ulid| {
        let payload = format!(r#"{{"record":"started","run_id":"{run}","agent_id":"agent-1","idempotency_key":"k"}}"#);
        Record { kind: Kind::Started, run_id: run, seq: 0, payload: payload.into_bytes() }
    };
    let first = Ulid::new();
    a.append(&[keyed(first)]).await.unwrap();
    let second = Ulid::new();
    assert!(matches!(a.append(&[keyed(second)]).await, Err(StoreError::Duplicate { run_id }) if run_id == second));

    // The same run started twice is no key's doing: the database's unique violation, as it said it.
    let run = Ulid::new();
    a.append(&[started(run)]).await.unwrap();
    match a.append(&[started(run)]).await {
        Err(StoreError::Database(error)) => assert_eq!(error.sqlstate.as_deref(), Some("23505"), "{error}"),
        other => panic!("a repeated run id: {other:?}"),
    }
}
