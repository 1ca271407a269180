//! What the runs domain remembers about each open connection.

use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};

use tether_core::Context;
use ulid::Ulid;

use crate::tools::Tools;

#[derive(Default)]
pub(crate) struct Conn {
    pub(crate) tools: Tools,
    /// The run proposals are journalled to.
    pub(crate) current: Option<Ulid>,
    /// In-progress runs this connection started or resumed, each with the ownership
    /// epoch it was given (`RunState::epoch`). Kept when another connection resumes
    /// the run: the stale epoch is what refuses this connection's later writes.
    pub(crate) owned: HashMap<Ulid, u64>,
    pub(crate) subscriptions: HashSet<Ulid>,
    /// Negotiated `runs.resume.v1`: its runs wait the resume lease when it drops.
    pub(crate) resumable: bool,
}

#[derive(Default)]
pub(crate) struct Connections(Mutex<HashMap<u64, Conn>>);

impl Connections {
    /// Runs `f` on the connection's state, creating it on first use. A connection
    /// that has closed gets a throwaway state: its close hook may already have run,
    /// and nothing may outlive it.
    pub(crate) fn with<T>(&self, cx: &Context, f: impl FnOnce(&mut Conn) -> T) -> T {
        let mut all = self.0.lock();
        let id = cx.connection_id();
        if cx.is_closed() && !all.contains_key(&id) {
            return f(&mut Conn::default());
        }
        let conn = all.entry(id).or_insert_with(|| Conn {
            resumable: cx.has_capability(tether_proto::runs::RESUME_CAPABILITY),
            ..Conn::default()
        });
        f(conn)
    }

    /// The connection is open (its close hook has not run).
    pub(crate) fn is_open(&self, id: u64) -> bool {
        self.0.lock().contains_key(&id)
    }

    pub(crate) fn remove(&self, id: u64) -> Option<Conn> {
        self.0.lock().remove(&id)
    }
}
