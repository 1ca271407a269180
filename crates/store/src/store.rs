//! The storage boundary of the runs domain: where run records live.
//!
//! Two implementations: the local [`Journal`] (one daemon, the default) and a
//! database several daemons share (`tether-pg`). The runs domain talks only to
//! [`RunStore`]; the conformance suite (`tests/conformance.rs` here and in
//! `tether-pg`) holds both to the same contract.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use ulid::Ulid;

use crate::{Journal, Record, RecordRef, RecoveredRun, StoreError, Then};

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a store is, for `tether status`, `/healthz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// `journal` or `postgres`.
    pub kind: &'static str,
    /// This daemon's node id in a shared store.
    pub node: Option<String>,
    /// Its lease's end as the database set it (RFC 3339), and how long ago it was renewed.
    pub lease_until: Option<String>,
    pub lease_renewed_ago: Option<std::time::Duration>,
}

pub trait RunStore: Send + Sync + 'static {
    fn info(&self) -> StoreInfo;

    /// Appends records; resolves once they are durable (fsync, or a committed
    /// transaction), never before. Records of one run carry consecutive `seq`s,
    /// assigned by the caller, which holds the run. A shared store refuses a
    /// record of a run this node does not own (`StoreError::Fenced`): nothing of
    /// that run in the batch is written.
    fn append<'a>(&'a self, records: &'a [Record]) -> StoreFuture<'a, Result<(), StoreError>>;

    /// `append`, with `then` run the moment the records are durable (only if they
    /// are), before this resolves, and even if nobody waits for it any more once the
    /// records are handed over: on the journal's writer thread (which so answers a turn
    /// without a hop back to the appender's task), in PostgreSQL's batch writer after the
    /// commit. By default (a store that overrides neither), after `append`, in its future.
    fn append_then<'a>(&'a self, records: &'a [Record], then: Option<Then>) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.append(records).await?;
            if let Some(then) = then {
                then();
            }
            Ok(())
        })
    }

    /// Records `range` (by position) of one run.
    fn read(&self, run_id: Ulid, range: Range<usize>) -> StoreFuture<'_, Result<Vec<Record>, StoreError>>;

    /// Records `range` of one run, each lent to `each` in order: a store reading
    /// into buffers need not copy every payload (a snapshot goes straight into its
    /// reply's text). By default, `read`'s records one by one.
    fn read_each<'a>(
        &'a self,
        run_id: Ulid,
        range: Range<usize>,
        each: &'a mut (dyn FnMut(RecordRef<'_>) + Send),
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            for record in self.read(run_id, range).await? {
                each(record.as_ref());
            }
            Ok(())
        })
    }

    /// About how many bytes `range` of a run's records take, framing included, if
    /// the store knows without reading them: a snapshot's text is sized once.
    fn stored_bytes(&self, _run_id: Ulid, _range: Range<usize>) -> Option<usize> {
        None
    }

    /// Whether every payload `read` returns is proven to be the bytes that were
    /// appended (a checksum over each frame), so the JSON the runs domain wrote may
    /// be served without checking it again. A database's rows are not vouched for.
    fn vouches_for_payloads(&self) -> bool {
        false
    }

    /// Drops runs for good (retention); they read as unknown at once.
    fn forget<'a>(&'a self, run_ids: &'a [Ulid]) -> StoreFuture<'a, ()>;

    /// What keeps the store from working as it should, one sentence each.
    fn problems(&self) -> Vec<String>;

    /// What a store several daemons write adds (`SharedStore`); `None` for a local
    /// store, which indexes everything at open and owns every run. The one place the
    /// runs domain asks where a run may live.
    fn shared(&self) -> Option<&dyn SharedStore> {
        None
    }
}

/// What a store shared by several daemons adds to [`RunStore`]: ownership across
/// nodes, runs this node has not indexed, and hints of writes made elsewhere.
pub trait SharedStore: Send + Sync {
    /// Whether this node may write the run now: false once another node took it
    /// over (this node's copy is stale).
    fn owns(&self, run_id: Ulid) -> bool;

    /// A run this daemon has not indexed (started on another node), as the store
    /// has it now.
    fn find(&self, run_id: Ulid) -> StoreFuture<'_, Result<Option<RecoveredRun>, StoreError>>;

    /// Makes this node the run's owner, fencing out the previous one: from here on
    /// only this node's writes to the run land. Returns the run as stored.
    fn take_over(&self, run_id: Ulid) -> StoreFuture<'_, Result<Option<RecoveredRun>, StoreError>>;

    /// Runs newest first, across every node: those whose list key is below
    /// `before`, of `agent` if given, at most `limit`, each with its key.
    fn list<'a>(
        &'a self,
        agent: Option<&'a str>,
        before: u64,
        limit: usize,
    ) -> StoreFuture<'a, Result<Vec<(u64, RecoveredRun)>, StoreError>>;

    /// The run an agent's idempotency key names, on any node.
    fn find_key<'a>(&'a self, agent: &'a str, key: &'a str) -> StoreFuture<'a, Result<Option<Ulid>, StoreError>>;

    /// Runs written anywhere (at most once each, maybe lost): a follower of a run
    /// another node writes re-reads it when hinted, and on a timer anyway. `None`
    /// for a shared store that cannot hint (followers then read on the timer only).
    fn hints(&self) -> Option<tokio::sync::broadcast::Receiver<Ulid>>;

    /// Runs this node held that another node has written since: taken over. Only
    /// these, never this node's own writes (a run it just ended is no longer held,
    /// and must not read as moved).
    fn moves(&self) -> tokio::sync::broadcast::Receiver<Ulid>;

    /// Runs left in progress by nodes whose lease expired, now owned by this node,
    /// which ends (or detaches) them.
    fn adopt_orphans(&self) -> StoreFuture<'_, Result<Vec<RecoveredRun>, StoreError>>;
}

impl RunStore for Journal {
    fn info(&self) -> StoreInfo {
        StoreInfo { kind: "journal", node: None, lease_until: None, lease_renewed_ago: None }
    }

    fn append<'a>(&'a self, records: &'a [Record]) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(Journal::append(self, records))
    }

    fn append_then<'a>(&'a self, records: &'a [Record], then: Option<Then>) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(Journal::append_then(self, records, then))
    }

    fn read(&self, run_id: Ulid, range: Range<usize>) -> StoreFuture<'_, Result<Vec<Record>, StoreError>> {
        // A positioned read of local files: answered on the first poll.
        let records = Journal::read(self, run_id, range);
        Box::pin(std::future::ready(records))
    }

    fn read_each<'a>(
        &'a self,
        run_id: Ulid,
        range: Range<usize>,
        each: &'a mut (dyn FnMut(RecordRef<'_>) + Send),
    ) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Journal::read_each(self, run_id, range, each)))
    }

    fn stored_bytes(&self, run_id: Ulid, range: Range<usize>) -> Option<usize> {
        Some(Journal::stored_bytes(self, run_id, range))
    }

    /// Each frame's CRC32C is checked on every read (`frame::decode`).
    fn vouches_for_payloads(&self) -> bool {
        true
    }

    fn forget<'a>(&'a self, run_ids: &'a [Ulid]) -> StoreFuture<'a, ()> {
        Box::pin(Journal::forget(self, run_ids))
    }

    fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> =
            self.damage().iter().map(|d| format!("journal damage accepted at start: {d}")).collect();
        if self.is_poisoned() {
            problems.push("journal: a write failed to sync; it refuses every write until the daemon restarts".into());
        }
        problems
    }
}
