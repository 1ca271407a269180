//! A run's owner, on request: ending it (`runs.complete`, `runs.cancel`) and handing it
//! to a new connection (`runs.resume`), which fences the old one out.

use std::sync::Arc;

use tether_core::{Caller, RpcError};
use tether_proto::runs::{Ack, CancelParams, CompleteParams, ResumeParams, ResumeResult, RunStatus, Termination};
use ulid::Ulid;

use crate::error::{RunsError, invalid};
use crate::reattach;
use crate::run::Run;
use crate::runs::Runs;
use crate::write::EndIf;

impl Runs {
    pub async fn complete(self: &Arc<Self>, caller: &Caller, params: CompleteParams) -> Result<Ack, RunsError> {
        self.outcome_fits("params.outcome", crate::tools::json_len(&params.outcome))?;
        let run = self.readable(caller, &params.run_id)?;
        let status = params.outcome.status;
        let only = self.end_if(caller, &run);
        self.end(&run, Termination::Outcome { status, outcome: params.outcome, budget_exceeded: None }, only).await?;
        self.release(caller, run.id);
        self.retain_later(run.agent_id.to_string());
        Ok(Ack { run_id: params.run_id, ok: true })
    }

    pub async fn cancel(self: &Arc<Self>, caller: &Caller, params: CancelParams) -> Result<Ack, RunsError> {
        self.outcome_fits("params.reason", params.reason.as_ref().map_or(0, String::len))?;
        let run = self.readable(caller, &params.run_id)?;
        let only = self.end_if(caller, &run);
        self.end(&run, Termination::Cancelled { reason: params.reason }, only).await?;
        self.release(caller, run.id);
        self.retain_later(run.agent_id.to_string());
        Ok(Ack { run_id: params.run_id, ok: true })
    }

    /// A connection that started or resumed the run ends it only while it still holds
    /// it (a resume elsewhere refuses it); any other reader that may end it (the
    /// operator, another connection of its agent) ends it as before.
    fn end_if(&self, caller: &Caller, run: &Run) -> EndIf {
        self.with_conn(caller, |c| c.owned.get(&run.id).copied()).map_or(EndIf::Always, EndIf::Holder)
    }

    /// An outcome or reason is free text journalled with the run: bounded on its own.
    fn outcome_fits(&self, field: &'static str, len: usize) -> Result<(), RunsError> {
        let max = self.config.max_outcome_bytes;
        if len > max {
            return Err(RpcError::TooLong { field, limit: "runs.max_outcome_bytes", max, len }.into());
        }
        Ok(())
    }

    pub(crate) fn release(&self, caller: &Caller, run: Ulid) {
        self.with_conn(caller, |c| {
            c.owned.remove(&run);
            if c.current == Some(run) {
                c.current = None;
            }
        });
    }

    /// Reclaims an in-progress run for this connection; its old connection is fenced
    /// off: from here on none of its turns, completions or cancellations is written.
    pub async fn resume(&self, caller: &Caller, params: ResumeParams) -> Result<ResumeResult, RunsError> {
        if !self.resumable(caller) {
            return Err(RunsError::ResumeNotNegotiated);
        }
        let run_id = params.run_id.as_str();
        let mut run = self.readable_anywhere(caller, run_id).await?;
        // The hand-over happens under the run's append lock: an append of the old
        // owner in flight lands before it (and is counted in `records`), and every
        // later one sees the new epoch and is refused (`append_turn`, `end`).
        let local = self.get(run_id);
        let _serial = match &local {
            Some(local) => Some(local.append.lock().await),
            None => None,
        };
        if self.is_shared() {
            // Checked on the run as stored before taking it over, so a wrong token
            // moves nothing; then this node fences out whichever node held it.
            check_resumable(&run, &params)?;
            run = self.take_over(&run).await?;
        }
        // `hold` indexed a run this node did not hold before: nobody here writes it
        // yet, but its lock is taken all the same, so the rule has no exception.
        let _also = match &local {
            Some(local) if Arc::ptr_eq(local, &run) => None,
            _ => Some(run.append.lock().await),
        };
        let conn = caller.connection().id();
        let (records, was_detached, epoch) = {
            // A reattachable run is taken over only with the token its start returned.
            check_resumable(&run, &params)?;
            let mut state = run.state.lock();
            let was_detached = state.status == RunStatus::Detached;
            state.status = RunStatus::InProgress;
            state.owner = Some(conn);
            state.owner_left = false;
            state.epoch += 1;
            (state.records as u64, was_detached, state.epoch)
        };
        if was_detached {
            let reattached = tether_proto::events::RunReattachedPayload { records };
            let scope = run.scope();
            self.events.emit(tether_proto::events::Published::RunReattached(reattached), scope);
        }
        self.with_conn(caller, |c| {
            c.owned.insert(run.id, epoch);
            c.current = Some(run.id);
        });
        tracing::info!(run = %run.id, conn, "run resumed by a new connection");
        Ok(ResumeResult {
            run_id: run_id.to_owned(),
            agent_id: run.agent_id.to_string(),
            status: RunStatus::InProgress,
            records,
        })
    }
}

/// Still open, and (for a reattachable run) the token matches.
fn check_resumable(run: &Run, params: &ResumeParams) -> Result<(), RunsError> {
    let state = run.state.lock();
    if !matches!(state.status, RunStatus::InProgress | RunStatus::Detached) {
        let status = crate::runs::status_name(state.status);
        return Err(RunsError::AlreadyEnded { run_id: params.run_id.clone(), status });
    }
    if let Some(hash) = &state.token {
        match &params.resume_token {
            None => return Err(invalid("resume_token", "required to resume a reattachable run")),
            Some(token) if !reattach::matches(token, hash) => {
                let reason = format!("the resume token of run {} does not match", params.run_id);
                return Err(RunsError::Ownership { run_id: Some(run.id), reason });
            }
            Some(_) => {}
        }
    }
    Ok(())
}
