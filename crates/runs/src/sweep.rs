//! Runs whose connection went: the disconnect sweep (`conn.rs` calls it when a
//! connection's runs state drops), detaching a reattachable run, and the grace timers.

use std::collections::BTreeSet;
use std::sync::Arc;

use tether_proto::events::{Published, RunDetachedPayload};
use tether_proto::runs::{RunRecord, RunStatus, Termination};

use crate::conn::Conn;
use crate::error::RunsError;
use crate::records::{corrupt_or, parse_record};
use crate::run::Run;
use crate::runs::Runs;
use crate::write::EndIf;

impl Runs {
    /// A connection closed (its runs state dropped, `conn.rs`): after the grace (or
    /// the resume lease) end its runs still in progress as `incomplete`.
    pub(crate) fn connection_closed(self: &Arc<Self>, conn: u64, state: Conn, resumable: bool) {
        let runs: Vec<Arc<Run>> = {
            let index = self.index.lock();
            state.owned.keys().chain(&state.subscriptions).filter_map(|id| index.runs.get(id).cloned()).collect()
        };
        for run in &runs {
            let mut run = run.state.lock();
            run.subscribers.retain(|s| s.connection != conn);
            if run.owner == Some(conn) {
                run.owner_left = true;
            }
        }
        let (reattachable, orphans): (Vec<Arc<Run>>, Vec<Arc<Run>>) =
            runs.into_iter().filter(|r| state.owned.contains_key(&r.id)).partition(|r| r.state.lock().reattachable);
        self.sweep_later(orphans, conn, self.config.grace(resumable));
        let detached: Vec<Arc<Run>> = reattachable.into_iter().filter(|run| self.detach(run, conn)).collect();
        self.expire_detached_later(detached);
        let tools = state.tools.cost();
        drop(state);
        crate::tools::release_memory_after(tools);
    }

    /// The owner of a reattachable run went away: the run waits `detached`.
    fn detach(&self, run: &Run, conn: u64) -> bool {
        let mut state = run.state.lock();
        if state.status != RunStatus::InProgress || state.owner != Some(conn) {
            return false; // ended meanwhile, or resumed elsewhere
        }
        state.status = RunStatus::Detached;
        state.owner = None;
        drop(state);
        let grace = self.config.reattach_grace_ms;
        self.events.emit(Published::RunDetached(RunDetachedPayload { grace_ms: grace }), run.scope());
        true
    }

    /// After `runs.reattach_grace_ms`, ends as `incomplete` each run still detached.
    pub(crate) fn expire_detached_later(self: &Arc<Self>, detached: Vec<Arc<Run>>) {
        if detached.is_empty() {
            return;
        }
        let this = self.clone();
        let grace = std::time::Duration::from_millis(self.config.reattach_grace_ms);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            for run in detached {
                match this.end(&run, Termination::Incomplete, EndIf::StillDetached).await {
                    Ok(()) | Err(RunsError::AlreadyEnded { .. }) => {}
                    Err(error) => tracing::warn!(%error, run = %run.id, "could not end a detached run"),
                }
            }
        });
    }

    /// Rebuilds which actions of a detached run are journalled (after a restart), a
    /// page of records at a time: a run may hold `runs.max_turns_per_run` turns of up to
    /// `runs.max_turn_bytes` each, far more than one read should hold in memory.
    pub(crate) async fn load_recorded(&self, run: &Run) -> Result<(), RunsError> {
        const PAGE: usize = 64;
        let records = run.state.lock().records as usize;
        for start in (0..records).step_by(PAGE) {
            let page = start..records.min(start + PAGE);
            let stored = self.store.read(run.id, page).await.map_err(|e| corrupt_or(e, run.id))?;
            let mut state = run.state.lock();
            for (seq, record) in (start..).zip(&stored) {
                if let Some(RunRecord::Turn(turn)) = parse_record::<RunRecord>(&record.payload, run.id)
                    && !turn.inherited
                {
                    state.recorded.insert(&turn.proposal_id, &turn.action_id, seq as u32);
                }
            }
        }
        Ok(())
    }

    /// After `grace`, ends as `incomplete` each of these runs still owned by `conn`.
    fn sweep_later(self: &Arc<Self>, orphans: Vec<Arc<Run>>, conn: u64, grace: std::time::Duration) {
        if orphans.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let mut agents = BTreeSet::new();
            for run in orphans {
                match this.end(&run, Termination::Incomplete, EndIf::OwnedBy(conn)).await {
                    Ok(()) => drop(agents.insert(run.agent_id.to_string())),
                    Err(RunsError::AlreadyEnded { .. }) => {}
                    Err(error) => tracing::warn!(%error, run = %run.id, "could not end an orphaned run"),
                }
            }
            // Swept runs count against retention like any other ended run.
            if !agents.is_empty() {
                this.retain(Some(agents.into_iter().collect()), time::OffsetDateTime::now_utc()).await;
            }
        });
    }
}
