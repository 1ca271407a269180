//! Opening the session store and reconciling it with the processes that still run.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use tether_events::EventBus;
use tether_proto::sessions::{SessionState, StopCause};

use crate::config::SessionsConfig;
use crate::error::SessionsError;
use crate::manager::{Managed, RunsOf, Sessions};
use crate::process::{self, Liveness};
use crate::store::Store;
use crate::tokens::SessionTokens;
use crate::workspace::Repos;

impl Sessions {
    /// Loads every stored session and reconciles each active one with reality:
    /// alive and the same process → adopted; gone → `stopped` (`gone_at_boot`, or
    /// `requested` if it was being stopped); undeterminable → unchanged, with a warning.
    pub async fn open(
        data_dir: &Path,
        config: SessionsConfig,
        runs_of: RunsOf,
        events: Arc<EventBus>,
    ) -> Result<Arc<Sessions>, SessionsError> {
        let store = Store::open(data_dir.join("sessions"))?;
        let stored = store.load_all()?;
        let sessions = Arc::new(Sessions {
            config,
            data_dir: data_dir.canonicalize()?,
            store,
            repos_dir: data_dir.join("repos"),
            repos: Repos::default(),
            tokens: Arc::new(SessionTokens::default()),
            daemon_url: OnceLock::new(),
            runs_of,
            sessions: Mutex::new(BTreeMap::new()),
            events,
        });
        for stored in stored {
            let id = stored.record.session_id.clone();
            if stored.record.state != SessionState::Removed {
                sessions.tokens.insert(&id, &stored.token_hash);
            }
            let liveness = stored.record.pid.map(|pid| process::same_process(pid, stored.start_time));
            let decision = decide(stored.record.state, stored.stop_requested, liveness);
            let pid = stored.record.pid;
            let managed = Managed::new(stored);
            sessions.sessions.lock().insert(id.clone(), managed.clone());
            sessions.apply(&managed, decision, pid).await?;
        }
        sessions.prune_removed();
        sessions.sweep_removed();
        sessions.bound_logs();
        Ok(sessions)
    }

    async fn apply(
        self: &Arc<Self>,
        managed: &Arc<Managed>,
        decision: Decision,
        pid: Option<u32>,
    ) -> Result<(), SessionsError> {
        let id = managed.stored.lock().record.session_id.clone();
        match decision {
            Decision::Keep => {}
            Decision::Adopt => {
                self.update(managed, |s| s.record.stdin_detached = true).await?;
                tracing::info!(session = %id, pid, "adopted a session process that outlived the daemon");
                self.watch_adopted(managed.clone(), pid.expect("an alive session has a pid"));
            }
            Decision::FinishStop => {
                let pid = pid.expect("an alive session has a pid");
                tracing::info!(session = %id, pid, "finishing a stop interrupted by a restart");
                self.update(managed, |s| s.record.stdin_detached = true).await?;
                self.watch_adopted(managed.clone(), pid);
                let _ = process::signal_group(pid, rustix::process::Signal::KILL);
            }
            Decision::Stopped(cause) => {
                self.update(managed, |s| {
                    s.record.state = SessionState::Stopped;
                    s.record.stop_cause = Some(cause);
                })
                .await?;
            }
            Decision::Errored(why) => {
                self.update(managed, |s| {
                    s.record.state = SessionState::Errored;
                    s.record.error = Some(why);
                })
                .await?;
            }
            Decision::CannotTell(why) => {
                tracing::warn!(session = %id, pid, %why, "cannot tell whether a session's process lives; leaving it as it was");
            }
        }
        Ok(())
    }
}

/// What boot reconciliation should do with one stored session, given its process's liveness.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Keep,
    Adopt,
    FinishStop,
    Stopped(StopCause),
    Errored(String),
    CannotTell(String),
}

pub(crate) fn decide(state: SessionState, stop_requested: bool, liveness: Option<Liveness>) -> Decision {
    match (state, liveness) {
        (SessionState::Provisioning, _) => Decision::Errored("provisioning was interrupted by a daemon restart".into()),
        (SessionState::Active, Some(Liveness::Alive { .. })) if stop_requested => Decision::FinishStop,
        (SessionState::Active, Some(Liveness::Alive { .. })) => Decision::Adopt,
        (SessionState::Active, Some(Liveness::Gone)) if stop_requested => Decision::Stopped(StopCause::Requested),
        (SessionState::Active, Some(Liveness::Gone)) => Decision::Stopped(StopCause::GoneAtBoot),
        (SessionState::Active, Some(Liveness::Unknown(why))) => Decision::CannotTell(why),
        (SessionState::Active, None) => Decision::Stopped(StopCause::GoneAtBoot),
        _ => Decision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciliation_decisions() {
        let alive = || Some(Liveness::Alive { start_time: 1 });
        assert_eq!(decide(SessionState::Active, false, alive()), Decision::Adopt);
        assert_eq!(decide(SessionState::Active, true, alive()), Decision::FinishStop);
        assert_eq!(decide(SessionState::Active, false, Some(Liveness::Gone)), Decision::Stopped(StopCause::GoneAtBoot));
        assert_eq!(decide(SessionState::Active, true, Some(Liveness::Gone)), Decision::Stopped(StopCause::Requested));
        // A session that cannot be observed is not a dead one.
        assert!(matches!(
            decide(SessionState::Active, false, Some(Liveness::Unknown("EACCES".into()))),
            Decision::CannotTell(_)
        ));
        assert_eq!(decide(SessionState::Stopped, false, Some(Liveness::Gone)), Decision::Keep);
        assert_eq!(decide(SessionState::Exited, false, alive()), Decision::Keep);
        assert!(matches!(decide(SessionState::Provisioning, false, None), Decision::Errored(_)));
    }
}
