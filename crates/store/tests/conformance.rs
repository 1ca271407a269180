//! The journal keeps the `RunStore` contract (the same checks run against PostgreSQL in `tether-pg`).

use std::sync::Arc;

use tether_store::{Journal, JournalOptions, RealFsync, RunStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_keeps_the_run_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal");
    tether_store::conformance::run(|| {
        let path = path.clone();
        async move {
            let (journal, _) = Journal::open(&path, JournalOptions::default(), Arc::new(RealFsync)).unwrap();
            Arc::new(journal) as Arc<dyn RunStore>
        }
    })
    .await;
}
