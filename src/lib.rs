//! The daemon's assembly: which domains make up tether and how they are opened.
//! The binary (`main.rs`) and the tests build the same daemon from here.

use std::path::Path;
use std::sync::Arc;

use tether_core::{AnyOf, Authenticator, Registry};
use tether_runs::{Runs, RunsConfig};
use tether_sessions::{Sessions, SessionsConfig};
use tether_store::{Fsync, Journal, JournalOptions};

/// The settings of every domain.
#[derive(Debug, Clone, Default)]
pub struct Domains {
    pub runs: RunsConfig,
    pub journal: JournalOptions,
    pub sessions: SessionsConfig,
}

/// Everything the listener needs from the domains.
pub struct Assembly {
    pub registry: Registry,
    pub sessions: Arc<Sessions>,
}

impl Assembly {
    /// The operator's token plus every managed session's scoped token.
    pub fn authenticator(&self, operator: Arc<dyn Authenticator>) -> Arc<dyn Authenticator> {
        Arc::new(AnyOf(vec![operator, self.sessions.tokens()]))
    }
}

/// Opens every domain's state under `data_dir` and registers their methods.
/// Recovery happens here: runs left in progress by a crashed process end
/// `incomplete` and sessions are reconciled before this returns, so before any
/// listener accepts anyone.
pub async fn assemble(data_dir: &Path, domains: &Domains, fsync: Arc<dyn Fsync>) -> Result<Assembly, String> {
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
    let runs_of = {
        let runs = runs.clone();
        Box::new(move |agent: &str| runs.summaries_for(agent))
    };
    let sessions =
        Sessions::open(data_dir, domains.sessions.clone(), runs_of).await.map_err(|e| format!("sessions: {e}"))?;
    let mut registry = Registry::new();
    tether_runs::register(&mut registry, runs);
    tether_sessions::register(&mut registry, sessions.clone());
    Ok(Assembly { registry, sessions })
}

/// Just the registry (for discovery checks).
pub async fn registry(data_dir: &Path, domains: &Domains, fsync: Arc<dyn Fsync>) -> Result<Registry, String> {
    Ok(assemble(data_dir, domains, fsync).await?.registry)
}
