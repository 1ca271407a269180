//! What the runs domain keeps for one connection, kept on the connection itself
//! (`tether_core::Connection::state`): dropped when it closes, and its `Drop` is the
//! disconnect sweep. No table keyed by connection id, so no close hook to race.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use tether_core::Caller;
use ulid::Ulid;

use crate::runs::Runs;
use crate::tools::Tools;

#[derive(Default)]
pub(crate) struct Conn {
    pub(crate) tools: Tools,
    /// The run proposals are journalled to.
    pub(crate) current: Option<Ulid>,
    /// In-progress runs this connection started or resumed, each with the ownership
    /// epoch it was given (`RunState::epoch`). Kept when another connection resumes
    /// the run: the stale epoch is what refuses this connection's later writes.
    pub(crate) owned: HashMap<Ulid, u64, foldhash::fast::RandomState>,
    pub(crate) subscriptions: HashSet<Ulid, foldhash::fast::RandomState>,
}

/// One connection's runs state. Whatever a request puts in it, before or after the
/// connection closed, is swept once, when the last holder lets it go.
pub(crate) struct ConnRuns {
    pub(crate) id: u64,
    /// Negotiated `runs.resume.v1`: its runs wait the resume lease when it drops.
    resumable: bool,
    runs: Weak<Runs>,
    /// The runtime it was made on: the sweep spawns its timers there even when the
    /// last holder is off it (a start's follow-up on the journal's thread).
    runtime: Option<tokio::runtime::Handle>,
    pub(crate) state: Mutex<Conn>,
}

impl Drop for ConnRuns {
    fn drop(&mut self) {
        let Some(runs) = self.runs.upgrade() else { return };
        let _entered = match tokio::runtime::Handle::try_current() {
            Ok(_) => None,
            Err(_) => match &self.runtime {
                Some(runtime) => Some(runtime.enter()),
                // Never on a runtime: nothing was spawned to end runs for.
                None => return,
            },
        };
        runs.connection_closed(self.id, std::mem::take(self.state.get_mut()), self.resumable);
    }
}

impl Runs {
    /// The caller's connection's runs state.
    pub(crate) fn conn(&self, caller: &Caller) -> Arc<ConnRuns> {
        caller.connection().state(|| ConnRuns {
            id: caller.connection().id(),
            resumable: caller.has_capability(tether_proto::runs::RESUME_CAPABILITY),
            runs: self.me.clone(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            state: Mutex::new(Conn::default()),
        })
    }

    /// Runs `f` on the caller's connection's runs state (never under another lock:
    /// the state may be dropped, and swept, right after).
    pub(crate) fn with_conn<T>(&self, caller: &Caller, f: impl FnOnce(&mut Conn) -> T) -> T {
        let conn = self.conn(caller);
        let out = f(&mut conn.state.lock());
        drop(conn);
        out
    }
}
