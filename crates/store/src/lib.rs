//! tether's run journal.
//!
//! An append-only log of run records in segment files. Every append is durable
//! (covered by `fdatasync`) before it is acknowledged; one writer thread batches
//! concurrent appends into one write and one sync (group commit). Every frame
//! carries its length and a CRC32C; on open, a torn tail is truncated and damage
//! in the middle is reported and its run flagged, never silently dropped.
//! Segments that hold nothing wanted any more are deleted, their numbers first
//! recorded in a retirement manifest, so a segment that goes missing otherwise is
//! still damage.

pub mod atomic;
mod board;
#[cfg(feature = "testing")]
pub mod conformance;
mod failpoint;
mod frame;
mod fsync;
mod inspect;
mod journal;
mod lock;
mod recover;
mod retired;
mod segment;
mod store;
mod writer;

pub use board::{ApprovalBoard, Settled};
pub use frame::{Kind, Record, RecordRef};
pub use fsync::{Fsync, RealFsync};
pub use inspect::Inspection;
pub use journal::{
    DbError, Journal, JournalObserver, JournalOptions, JournalStats, Recovered, RecoveredRun, StoreError,
};
pub use lock::{DirLock, LockError};
pub use store::{RunStore, SharedStore, StoreFuture, StoreInfo};
pub use writer::Then;
