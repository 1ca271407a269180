//! Approvals several daemons share. A hook waits on the node it reached; the
//! operator may list and resolve its approval on any node; the first settlement
//! wins, in the database (a compare-and-set on `pending`).

use crate::{StoreError, StoreFuture};

/// How a settlement ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// This call settled it.
    Now,
    /// It was settled already (or expired): as it stands.
    Already(Vec<u8>),
    /// No such approval on the board.
    Unknown,
}

/// Approvals as JSON (the hooks domain's `Approval`), keyed by id, with their state.
pub trait ApprovalBoard: Send + Sync + 'static {
    /// Publishes a pending approval.
    fn post<'a>(&'a self, id: &'a str, approval: &'a [u8]) -> StoreFuture<'a, Result<(), StoreError>>;
    /// Replaces a pending approval with its settled form (`state` is its new state).
    fn settle<'a>(
        &'a self,
        id: &'a str,
        state: &'a str,
        approval: &'a [u8],
    ) -> StoreFuture<'a, Result<Settled, StoreError>>;
    /// Every approval on the board, oldest first.
    fn all(&self) -> StoreFuture<'_, Result<Vec<Vec<u8>>, StoreError>>;
    /// Those of `ids` no longer pending.
    fn settled_among<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, Result<Vec<Vec<u8>>, StoreError>>;
    /// Deletes approvals settled longer than `retention` ago; how many went.
    fn prune(&self, retention: std::time::Duration) -> StoreFuture<'_, Result<u64, StoreError>>;
}
