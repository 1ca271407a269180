//! The contract every [`RunStore`] keeps, as checks both implementations run:
//! the journal's tests (`tests/conformance.rs`) and `tether-pg`'s, against a
//! real PostgreSQL. `open` opens the same storage again each time it is called
//! (a restart); each check uses runs of its own.

use std::future::Future;
use std::sync::Arc;

use ulid::Ulid;

use crate::{Kind, Record, RunStore};

/// Runs every check; panics naming the first that fails.
pub async fn run<F, Fut>(mut open: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Arc<dyn RunStore>>,
{
    let store = open().await;
    records_read_back_in_order_by_range(store.as_ref()).await;
    payload_bytes_round_trip_exactly(store.as_ref()).await;
    concurrent_runs_all_land_contiguously(&store).await;
    a_follow_up_runs_once_its_records_are_durable_even_if_nobody_waits(&store).await;
    let kept = a_finished_run(store.as_ref(), 5).await;
    forgotten_runs_read_as_empty(store.as_ref()).await;
    drop(store);
    let reopened = open().await;
    let read = reopened.read(kept, 0..100).await.expect("read after reopen");
    assert_eq!(seqs(&read), (0..7).collect::<Vec<_>>(), "records survive a reopen");
    assert_eq!(read[6].kind, Kind::Ended, "records survive a reopen with their kinds");
}

fn record(kind: Kind, run_id: Ulid, seq: u32) -> Record {
    let payload = match kind {
        Kind::Started => format!(r#"{{"record":"started","run_id":"{run_id}","agent_id":"conformance"}}"#),
        Kind::Ended => format!(r#"{{"record":"ended","run_id":"{run_id}"}}"#),
        _ => format!(r#"{{"record":"turn","index":{}}}"#, seq.saturating_sub(1)),
    };
    Record { kind, run_id, seq, payload: payload.into_bytes() }
}

fn seqs(records: &[Record]) -> Vec<u32> {
    records.iter().map(|r| r.seq).collect()
}

/// started, `turns` turns (one append each), ended.
async fn a_finished_run(store: &dyn RunStore, turns: u32) -> Ulid {
    let run = Ulid::new();
    store.append(&[record(Kind::Started, run, 0)]).await.expect("append started");
    for seq in 1..=turns {
        store.append(&[record(Kind::Turn, run, seq)]).await.expect("append turn");
    }
    store.append(&[record(Kind::Ended, run, turns + 1)]).await.expect("append ended");
    run
}

async fn records_read_back_in_order_by_range(store: &dyn RunStore) {
    let run = a_finished_run(store, 5).await;
    let all = store.read(run, 0..7).await.unwrap();
    assert_eq!(seqs(&all), (0..7).collect::<Vec<_>>(), "every record, in order");
    assert_eq!(all.iter().map(|r| r.kind).collect::<Vec<_>>()[..2], [Kind::Started, Kind::Turn]);
    assert!(all.iter().all(|r| r.run_id == run), "only the run's own records");
    assert_eq!(seqs(&store.read(run, 2..4).await.unwrap()), [2, 3], "a range");
    assert_eq!(seqs(&store.read(run, 5..100).await.unwrap()), [5, 6], "a range past the end stops at the end");
    assert!(store.read(run, 9..12).await.unwrap().is_empty(), "a range wholly past the end is empty");
    assert!(store.read(Ulid::new(), 0..10).await.unwrap().is_empty(), "an unknown run reads as empty");
}

async fn payload_bytes_round_trip_exactly(store: &dyn RunStore) {
    let run = Ulid::new();
    let payload = "{\"record\":\"started\", \"spaced\" :  [1,2],\"text\":\"é\\u00e9\\n\"}".as_bytes().to_vec();
    store.append(&[Record { kind: Kind::Started, run_id: run, seq: 0, payload: payload.clone() }]).await.unwrap();
    let read = store.read(run, 0..1).await.unwrap();
    assert_eq!(read[0].payload, payload, "a payload reads back byte for byte");
}

async fn concurrent_runs_all_land_contiguously(store: &Arc<dyn RunStore>) {
    let (runs, turns) = (16, 20u32);
    let mut tasks = Vec::new();
    for _ in 0..runs {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let run = Ulid::new();
            store.append(&[record(Kind::Started, run, 0)]).await.unwrap();
            for seq in 1..=turns {
                store.append(&[record(Kind::Turn, run, seq)]).await.unwrap();
            }
            run
        }));
    }
    for task in tasks {
        let run = task.await.unwrap();
        let read = store.read(run, 0..100).await.unwrap();
        assert_eq!(
            seqs(&read),
            (0..=turns).collect::<Vec<_>>(),
            "concurrent runs: every acknowledged record, in order"
        );
    }
    // Several records of one run in one append land together.
    let run = Ulid::new();
    let batch: Vec<Record> =
        (0..4).map(|seq| record(if seq == 0 { Kind::Started } else { Kind::Turn }, run, seq)).collect();
    store.append(&batch).await.unwrap();
    assert_eq!(seqs(&store.read(run, 0..10).await.unwrap()), [0, 1, 2, 3], "a batch of one run");
}

async fn forgotten_runs_read_as_empty(store: &dyn RunStore) {
    let gone = a_finished_run(store, 2).await;
    let kept = a_finished_run(store, 2).await;
    store.forget(&[gone]).await;
    assert!(store.read(gone, 0..10).await.unwrap().is_empty(), "a forgotten run reads as empty");
    assert_eq!(store.read(kept, 0..10).await.unwrap().len(), 4, "forgetting one run keeps the others");
}

/// `append_then`'s follow-up runs before the append resolves, and runs even when the
/// appender stopped waiting after handing its records over (a cancelled request).
async fn a_follow_up_runs_once_its_records_are_durable_even_if_nobody_waits(store: &Arc<dyn RunStore>) {
    let run = Ulid::new();
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let then: crate::Then = {
        let ran = ran.clone();
        Box::new(move || ran.store(true, std::sync::atomic::Ordering::SeqCst))
    };
    store.append_then(&[record(Kind::Started, run, 0)], Some(then)).await.expect("append started");
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst), "the follow-up ran before the append resolved");

    let (ran, told) = tokio::sync::oneshot::channel();
    let then: crate::Then = Box::new(move || {
        let _ = ran.send(());
    });
    let records = [record(Kind::Turn, run, 1)];
    {
        // One poll hands the records over; then the appender gives up.
        let mut appending = store.append_then(&records, Some(then));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = appending.as_mut().poll(&mut cx);
    }
    tokio::time::timeout(std::time::Duration::from_secs(10), told)
        .await
        .expect("the follow-up of an append nobody waits for still runs")
        .expect("it ran, not dropped");
    assert_eq!(seqs(&store.read(run, 0..10).await.unwrap()), [0, 1], "and its record is durable");
}
