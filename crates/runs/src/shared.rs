//! What a shared store (several daemons on one database) adds to the runs
//! domain: holding a run another node started (a resume moved it here),
//! adopting the open runs of nodes that died, and letting go of a run another
//! node fenced this one out of.

use std::sync::Arc;
use std::time::Duration;

use tether_proto::runs::{RunStatus, Termination};
use tether_store::RecoveredRun;

use crate::error::RunsError;
use crate::run::Run;
use crate::runs::{EndIf, Runs, rebuild};

impl Runs {
    /// Puts a run this node now owns in the store (taken over, or adopted) into
    /// the index, or refreshes this node's stale copy of it; returns the indexed run.
    pub(crate) async fn hold(&self, found: RecoveredRun) -> Result<Arc<Run>, RunsError> {
        let existing = self.get(&found.run_id.to_string());
        let run = match existing {
            Some(run) => {
                let mut state = run.state.lock();
                state.records = found.records;
                state.turns = found.turns;
                state.recorded.clear();
                drop(state);
                run
            }
            None => {
                let mut index = self.index.lock();
                let key = index.next_key();
                let (run, _) = rebuild(found, key);
                let run = Arc::new(run);
                index.insert(run.clone());
                run
            }
        };
        // A proposal submitted again here is answered from what any node journalled.
        self.load_recorded(&run).await?;
        Ok(run)
    }

    /// With a shared store: every `every`, takes over the open runs of nodes whose
    /// lease expired, and ends each `incomplete` (a reattachable one waits
    /// `detached` for its owner first), as after a local crash.
    pub fn watch_orphans(self: &Arc<Self>, every: Duration) {
        if !self.store.shared() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every.max(Duration::from_millis(10))).await;
                let Some(this) = weak.upgrade() else { return };
                match this.store.adopt_orphans().await {
                    Ok(found) if !found.is_empty() => this.settle_orphans(found).await,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "could not look for runs of dead nodes"),
                }
            }
        });
    }

    async fn settle_orphans(self: &Arc<Self>, found: Vec<RecoveredRun>) {
        let mut detached = Vec::new();
        for found in found {
            let run = match self.hold(found).await {
                Ok(run) => run,
                Err(error) => {
                    tracing::warn!(%error, "could not take over a dead node's run");
                    continue;
                }
            };
            let reattachable = {
                let mut state = run.state.lock();
                state.owner = None;
                if state.reattachable {
                    state.status = RunStatus::Detached;
                }
                state.reattachable
            };
            if reattachable {
                detached.push(run);
                continue;
            }
            match self.end(&run, Termination::Incomplete, EndIf::Always).await {
                Ok(()) | Err(RunsError::AlreadyEnded { .. }) => {}
                Err(error) => tracing::warn!(%error, run = %run.id, "could not end a dead node's run"),
            }
        }
        self.expire_detached_later(detached);
    }

    /// Another node took this run over: this node's copy is stale. Drop it from
    /// the index (reads go to the store from now on), so nothing here writes it again.
    pub(crate) fn let_go(&self, run: &Run) {
        self.index.lock().remove(&run.id);
        let mut state = run.state.lock();
        state.owner = None;
        state.subscribers.clear();
        tracing::warn!(run = %run.id, "another node took this run over; this node let it go");
    }
}
