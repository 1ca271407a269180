//! What a shared store (several daemons on one database) adds to the runs
//! domain: holding a run another node started (a resume moved it here),
//! adopting the open runs of nodes that died, and letting go of a run another
//! node fenced this one out of. The one seam between the domain and a shared
//! store: nothing else in this crate asks `RunStore::shared`. Where a run lives
//! is `locate`'s answer; each other branch is a named question below.

use std::sync::Arc;
use std::time::Duration;

use tether_core::{Caller, Peer, PeerExt, Written};
use tether_proto::runs::{RunRecord, RunStatus, SubscribeResult, Termination, TraceEvent, TraceEventMessage};
use tether_store::RecoveredRun;
use tokio::sync::broadcast;
use ulid::Ulid;

use crate::error::RunsError;
use crate::records::rebuild;
use crate::run::Run;
use crate::runs::Runs;
use crate::write::EndIf;

/// Where a run lives, as this node sees it.
pub(crate) enum Place {
    /// This node's copy, trusted as far as asked.
    Here(Arc<Run>),
    /// Another node's (or possibly so): read from the shared store.
    Elsewhere(Ulid),
    /// Neither indexed here nor in a shared store to ask.
    Unknown,
}

/// How far a caller must trust this node's copy of a run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    /// Any copy indexed here (enough to drop a subscription to it).
    Indexed,
    /// A copy this node writes, or one that ended (enough to stream its records live).
    Current,
    /// Current, and its owner still connected here: else it may have been resumed on
    /// another node a moment ago, before this node heard (what a read needs).
    Confirmed,
}

impl Runs {
    /// Whether several daemons share the store.
    pub(crate) fn is_shared(&self) -> bool {
        self.store.shared().is_some()
    }

    /// Where `run_id` lives for a caller that needs `trust` in this node's copy. On a
    /// local store every indexed run is current here and nothing lives elsewhere.
    pub(crate) fn locate(&self, run_id: &str, trust: Trust) -> Place {
        let here = self.get(run_id).filter(|run| match trust {
            Trust::Indexed => true,
            Trust::Current => self.current_here(run),
            Trust::Confirmed => self.current_here(run) && !self.maybe_moved(run),
        });
        match (here, Ulid::from_string(run_id)) {
            (Some(run), _) => Place::Here(run),
            (None, Ok(id)) if self.is_shared() => Place::Elsewhere(id),
            (None, _) => Place::Unknown,
        }
    }

    /// A run as the shared store has it now, if it has it.
    pub(crate) async fn read_elsewhere(&self, id: Ulid) -> Result<Option<Arc<Run>>, RunsError> {
        let Some(shared) = self.store.shared() else { return Ok(None) };
        Ok(shared.find(id).await?.map(|found| Arc::new(rebuild(found, 0).0)))
    }

    /// Whether another node started a run under this agent's idempotency key.
    pub(crate) async fn key_used_elsewhere(&self, agent: &str, key: &str) -> Result<bool, RunsError> {
        let Some(shared) = self.store.shared() else { return Ok(false) };
        Ok(shared.find_key(agent, key).await?.is_some())
    }

    /// Why a connection's current run is no longer indexed: another node fenced this
    /// one out (shared), or retention forgot it (local).
    pub(crate) fn no_longer_here(&self, id: Ulid) -> RunsError {
        match self.is_shared() {
            true => RunsError::Store(tether_store::StoreError::Fenced { run_id: id }),
            false => RunsError::AlreadyEnded { run_id: id.to_string(), status: "forgotten".into() },
        }
    }

    /// Fences out whichever node holds `run` and holds it here (a resume on a shared
    /// store); the run unchanged on a local one.
    pub(crate) async fn take_over(&self, run: &Arc<Run>) -> Result<Arc<Run>, RunsError> {
        let Some(shared) = self.store.shared() else { return Ok(run.clone()) };
        let Some(found) = shared.take_over(run.id).await? else {
            return Err(RunsError::AlreadyEnded { run_id: run.id.to_string(), status: "ended".into() });
        };
        self.hold(found).await
    }

    /// Puts a run this node now owns in the store (taken over, or adopted) into
    /// the index, or refreshes this node's stale copy of it; returns the indexed run.
    pub(crate) async fn hold(&self, found: RecoveredRun) -> Result<Arc<Run>, RunsError> {
        let existing = self.get(&found.run_id.to_string());
        let run = match existing {
            Some(run) => {
                let mut state = run.state.lock();
                state.records = found.records;
                state.turns = found.turns;
                state.bytes = found.bytes;
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
        if !self.is_shared() {
            return;
        }
        self.watch_moves();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every.max(Duration::from_millis(10))).await;
                let Some(this) = weak.upgrade() else { return };
                let Some(shared) = this.store.shared() else { return };
                match shared.adopt_orphans().await {
                    Ok(found) if !found.is_empty() => this.settle_orphans(found).await,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "could not look for runs of dead nodes"),
                }
            }
        });
    }

    /// A run this node holds, written by another node (the store tells): taken
    /// over, so this node lets its stale copy go at once. Hints of every write are
    /// not enough: this node's own end of a run races its copy's status.
    fn watch_moves(self: &Arc<Self>) {
        let Some(mut hints) = self.store.shared().map(|shared| shared.moves()) else { return };
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let run = match hints.recv().await {
                    Ok(run) => run,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(this) = weak.upgrade() else { return };
                if let Some(held) = this.get(&run.to_string())
                    && !this.current_here(&held)
                {
                    this.let_go(&held);
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

    /// This node's copy of the run is current: a local store, a run this node
    /// writes, or one that ended (an ended run changes no more). An open run
    /// another node took over is read from the store instead.
    pub(crate) fn current_here(&self, run: &Run) -> bool {
        let open = matches!(run.state.lock().status, RunStatus::InProgress | RunStatus::Detached);
        !open || self.store.shared().is_none_or(|shared| shared.owns(run.id))
    }

    /// An open run whose owner has no open connection here, on a shared store: it
    /// may have resumed the run on another node a moment ago (before this node
    /// heard), so a read asks the store.
    pub(crate) fn maybe_moved(&self, run: &Run) -> bool {
        let (open, owner, owner_left) = {
            let state = run.state.lock();
            (matches!(state.status, RunStatus::InProgress | RunStatus::Detached), state.owner, state.owner_left)
        };
        self.is_shared() && open && (owner.is_none() || owner_left)
    }

    /// Another node took this run over: this node's copy is stale. Drop it from
    /// the index (reads go to the store from now on), so nothing here writes it again.
    pub(crate) fn let_go(&self, run: &Run) {
        self.index.lock().remove(&run.id);
        let mut state = run.state.lock();
        state.owner = None;
        // Its subscribers here hear `runs.trace.lagged` and subscribe again, which
        // follows the run through the store from where they were.
        for subscriber in state.subscribers.drain(..) {
            subscriber.lagged.store(true, std::sync::atomic::Ordering::Release);
        }
        tracing::warn!(run = %run.id, "another node took this run over; this node let it go");
    }
}

impl Runs {
    /// `runs.list` on a shared store: every node's runs, newest first by the
    /// store's list key (the cursor), filtered as on one node. A run this node
    /// holds is shown as this node knows it (a `detached` state is local).
    /// `None` on a local store, whose index is the whole list.
    pub(crate) async fn list_shared(
        &self,
        agent: Option<&str>,
        cursor: u64,
        take: usize,
        params: &tether_proto::runs::ListParams,
    ) -> Result<Option<(Vec<tether_proto::runs::RunSummary>, Option<u64>)>, RunsError> {
        const BATCH: usize = 200;
        let Some(shared) = self.store.shared() else { return Ok(None) };
        let mut before = if cursor == 0 { u64::MAX } else { cursor };
        let mut shown: Vec<(u64, tether_proto::runs::RunSummary)> = Vec::new();
        let mut more = false;
        'pages: loop {
            let batch = shared.list(agent, before, BATCH).await?;
            let exhausted = batch.len() < BATCH;
            for (key, found) in batch {
                before = key;
                let summary = match self.get(&found.run_id.to_string()).filter(|run| self.current_here(run)) {
                    Some(run) => run.summary(),
                    None => rebuild(found, key).0.summary(),
                };
                let wanted = params.session_id.as_deref().is_none_or(|s| summary.session_id.as_deref() == Some(s))
                    && params.status.is_none_or(|status| summary.status == status);
                if !wanted {
                    continue;
                }
                if shown.len() == take {
                    more = true;
                    break 'pages;
                }
                shown.push((key, summary));
            }
            if exhausted {
                break;
            }
        }
        let next_cursor = more.then(|| shown.last().map_or(0, |(key, _)| *key));
        Ok(Some((shown.into_iter().map(|(_, s)| s).collect(), next_cursor)))
    }
}

/// How often a follower of a run on another node reads the store when no hint came.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// Records read per catch-up.
const FOLLOW_PAGE: usize = 500;

impl Runs {
    /// `runs.subscribe` of a run this node does not hold (another node writes it):
    /// the snapshot from the store, then the store followed from there, each record
    /// once and in order, woken by the store's hints and every `FOLLOW_EVERY` anyway.
    pub(crate) async fn follow_remote(
        self: &Arc<Self>,
        caller: &Caller,
        run: Arc<Run>,
        from: u64,
    ) -> Result<Written<SubscribeResult>, RunsError> {
        let hints = self.store.shared().and_then(|shared| shared.hints());
        let records = run.state.lock().records as usize;
        let snapshot = self.read_snapshot(&run, from, records).await?;
        let status = run.state.lock().status;
        self.with_conn(caller, |c| c.subscriptions.insert(run.id));
        let follower = Follower {
            conn: Arc::downgrade(&self.conn(caller)),
            connection: caller.connection().clone(),
            client: caller.client().clone(),
        };
        let (id, agent) = (run.id, run.agent_id.to_string());
        let open = status == RunStatus::InProgress || status == RunStatus::Detached;
        if open {
            tokio::spawn(follow(self.me.clone(), follower, id, agent, records, hints));
        }
        Ok(crate::query::subscribed(snapshot, &run, status, records as u64))
    }
}

/// Whom a follower of a run on another node serves: it stops once the connection
/// closed or dropped the subscription.
struct Follower {
    conn: std::sync::Weak<crate::conn::ConnRuns>,
    connection: tether_core::Connection,
    client: Arc<dyn Peer>,
}

impl Follower {
    fn wants(&self, id: &Ulid) -> bool {
        let Some(conn) = self.conn.upgrade().filter(|_| !self.connection.is_gone()) else { return false };
        conn.state.lock().subscriptions.contains(id)
    }
}

async fn follow(
    runs: std::sync::Weak<Runs>,
    follower: Follower,
    id: Ulid,
    agent: String,
    mut cursor: usize,
    mut hints: Option<broadcast::Receiver<Ulid>>,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
            () = hinted(&mut hints, id) => {}
        }
        let Some(this) = runs.upgrade() else { return };
        if !follower.wants(&id) {
            return;
        }
        let stored = match this.store.read(id, cursor..cursor + FOLLOW_PAGE).await {
            Ok(stored) => stored,
            Err(error) => {
                tracing::debug!(%error, run = %id, "following a run on another node: read failed; retrying");
                continue;
            }
        };
        drop(this);
        for stored in stored {
            let Some(record) = crate::records::parse_record::<RunRecord>(&stored.payload, id) else { return };
            let status = match &record {
                RunRecord::Ended(ended) => ended.termination.status(),
                _ => RunStatus::InProgress,
            };
            let event =
                TraceEvent { run_id: id.to_string(), agent_id: agent.clone(), record, cursor: cursor as u64, status };
            if follower.client.notice::<TraceEventMessage>(&event, true).await.is_err() {
                return;
            }
            cursor += 1;
            if status != RunStatus::InProgress {
                return;
            }
        }
    }
}

/// Resolves when the store hints that `id` has new records (or hints were lost);
/// never, without hints.
async fn hinted(hints: &mut Option<broadcast::Receiver<Ulid>>, id: Ulid) {
    let Some(rx) = hints else { return std::future::pending().await };
    loop {
        match rx.recv().await {
            Ok(run) if run == id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}
