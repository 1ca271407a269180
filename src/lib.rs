//! The daemon's assembly: which domains make up tether and how they are opened.
//! The binary (`main.rs`) and the tests build the same registry from here.

use std::path::Path;
use std::sync::Arc;

use tether_core::Registry;
use tether_runs::{Runs, RunsConfig};
use tether_store::{Fsync, Journal, JournalOptions};

/// The settings of every domain.
#[derive(Debug, Clone, Default)]
pub struct Domains {
    pub runs: RunsConfig,
    pub journal: JournalOptions,
}

/// Opens every domain's state under `data_dir` and registers their methods.
/// Recovery happens here: runs left in progress by a crashed process are ended
/// `incomplete` before this returns, so before any listener accepts anyone.
pub async fn registry(data_dir: &Path, domains: &Domains, fsync: Arc<dyn Fsync>) -> Result<Registry, String> {
    let (journal, recovered) = Journal::open(&data_dir.join("journal"), domains.journal.clone(), fsync)
        .map_err(|e| format!("journal: {e}"))?;
    if recovered.truncated_bytes > 0 || recovered.corrupt_frames > 0 {
        tracing::warn!(
            truncated_bytes = recovered.truncated_bytes,
            corrupt_records = recovered.corrupt_frames,
            "journal recovered from damage"
        );
    }
    let runs = Runs::open(journal, recovered, domains.runs.clone()).await.map_err(|e| e.to_string())?;
    let mut registry = Registry::new();
    tether_runs::register(&mut registry, runs);
    Ok(registry)
}
