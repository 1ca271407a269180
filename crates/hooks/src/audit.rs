//! The audit log: one JSON line per hook and decision in `<data-dir>/audit.jsonl`,
//! fsynced before the decision is answered. One writer thread owns the file and
//! writes every line waiting with one `fdatasync` (group commit), so a hook never
//! holds a runtime thread through a sync.
//!
//! The log cannot take the disk: it rotates at `audit_max_bytes` (keeping
//! `audit_keep` older files), and it drops lines rather than write into the last
//! `audit_reserve_bytes` of its volume, which are the journal's. A line that cannot
//! be written (that reserve, or a write that fails, e.g. a disk filled by something
//! else) is counted and reported, never turned into an error for the hook: a hook
//! client reads an error as "no objection", so the decision must still be answered.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::error::HooksError;

/// What became of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// On disk (synced).
    Durable,
    /// Not written: the volume is short of space, or the write failed.
    Dropped,
}

type Waiter = oneshot::Sender<Written>;

#[derive(Debug, Serialize)]
pub(crate) struct AuditEntry<'a> {
    pub(crate) ts: String,
    /// The session and agent the hook was accounted to (see `Account`).
    pub(crate) session_id: Option<&'a str>,
    pub(crate) agent_id: Option<&'a str>,
    /// Claude Code's own `session_id` from the payload, as it said it.
    pub(crate) claude_session_id: Option<&'a str>,
    pub(crate) event: &'a str,
    pub(crate) tool: Option<&'a str>,
    pub(crate) decision: &'a str,
    pub(crate) rule: Option<&'a str>,
    pub(crate) reason: Option<&'a str>,
    /// Names the hook sent over their bound, by field: their original lengths in bytes.
    #[serde(skip_serializing_if = "<[_]>::is_empty", serialize_with = "as_map")]
    pub(crate) trimmed: &'a [(&'static str, usize)],
    /// The overseer's review, when a `review` rule sent the hook to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) review: Option<&'a tether_proto::overseers::Review>,
}

/// `{"field": original_length, …}`.
fn as_map<S: serde::Serializer>(trimmed: &&[(&'static str, usize)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(trimmed.iter().map(|(field, len)| (*field, *len)))
}

/// How the audit log is bounded (from `[hooks]`).
#[derive(Debug, Clone)]
pub(crate) struct AuditLimits {
    pub(crate) max_bytes: u64,
    pub(crate) keep: usize,
    pub(crate) reserve_bytes: u64,
}

/// What the writer reports: lines dropped, by cause, and whether it is dropping now.
#[derive(Default)]
pub(crate) struct AuditState {
    dropped_space: AtomicU64,
    dropped_error: AtomicU64,
    rotations: AtomicU64,
    dropping: AtomicBool,
}

/// The audit log's figures, for `/metrics` and `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditStatus {
    /// Lines not written because the volume had less than `audit_reserve_bytes` free.
    pub dropped_low_space: u64,
    /// Lines not written because the write or its sync failed.
    pub dropped_write_error: u64,
    pub rotations: u64,
    /// The last batch was dropped (cleared by the next one written).
    pub dropping: bool,
}

pub(crate) struct Audit {
    writer: parking_lot::Mutex<mpsc::Sender<(Vec<u8>, Waiter)>>,
    path: PathBuf,
    state: Arc<AuditState>,
}

/// How far back from the end `recent` reads: a read must not grow with the log.
const TAIL_BYTES: u64 = 4 << 20;

impl Audit {
    pub(crate) fn open(path: &Path, limits: AuditLimits) -> Result<Audit, HooksError> {
        let file = open_log(path)?;
        let size = file.metadata()?.len();
        let (writer, lines) = mpsc::channel();
        let state = Arc::new(AuditState::default());
        let log = Log { file, size, path: path.to_owned(), limits, state: state.clone() };
        std::thread::Builder::new().name("audit-writer".into()).spawn(move || log.run(lines))?;
        Ok(Audit { writer: parking_lot::Mutex::new(writer), path: path.to_owned(), state })
    }

    pub(crate) fn status(&self) -> AuditStatus {
        AuditStatus {
            dropped_low_space: self.state.dropped_space.load(Ordering::Relaxed),
            dropped_write_error: self.state.dropped_error.load(Ordering::Relaxed),
            rotations: self.state.rotations.load(Ordering::Relaxed),
            dropping: self.state.dropping.load(Ordering::Relaxed),
        }
    }

    /// The newest `limit` entries (of `session`, if given), oldest first, from the
    /// last few MiB of the current file.
    pub(crate) fn recent(&self, limit: usize, session: Option<&str>) -> Result<Vec<serde_json::Value>, HooksError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut text = Vec::new();
        file.take(TAIL_BYTES).read_to_end(&mut text)?;
        let text = String::from_utf8_lossy(&text);
        // A read that starts mid-file starts mid-line: skip to the first whole one.
        let whole = if start > 0 { text.split_once('\n').map_or("", |(_, rest)| rest) } else { &text };
        let mut entries: Vec<serde_json::Value> = whole
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| session.is_none_or(|s| entry["session_id"] == s))
            .take(limit)
            .collect();
        entries.reverse();
        Ok(entries)
    }

    /// Resolves once the line is on disk, or known to be dropped (never an error:
    /// the caller answers its hook either way).
    pub(crate) async fn append(&self, entry: &AuditEntry<'_>) -> Written {
        let Ok(mut line) = serde_json::to_vec(entry) else { return Written::Dropped };
        line.push(b'\n');
        let (done, synced) = oneshot::channel();
        if self.writer.lock().send((line, done)).is_err() {
            self.state.dropped_error.fetch_add(1, Ordering::Relaxed);
            return Written::Dropped;
        }
        synced.await.unwrap_or(Written::Dropped)
    }
}

fn open_log(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// The writer thread's side: the open file and what bounds it.
struct Log {
    file: File,
    /// Bytes in the current file that are whole lines (a failed write is cut back to it).
    size: u64,
    path: PathBuf,
    limits: AuditLimits,
    state: Arc<AuditState>,
}

impl Log {
    /// Takes every line waiting, writes them, syncs once, answers all.
    fn run(mut self, lines: mpsc::Receiver<(Vec<u8>, Waiter)>) {
        while let Ok(first) = lines.recv() {
            let mut batch = vec![first];
            batch.extend(lines.try_iter());
            let mut bytes = Vec::with_capacity(batch.iter().map(|(line, _)| line.len()).sum());
            for (line, _) in &batch {
                bytes.extend_from_slice(line);
            }
            let written = self.write(&bytes, batch.len() as u64);
            for (_, done) in batch {
                let _ = done.send(written);
            }
        }
    }

    fn write(&mut self, bytes: &[u8], lines: u64) -> Written {
        let state = self.state.clone();
        if free_bytes(&self.file).is_some_and(|free| free < self.limits.reserve_bytes + bytes.len() as u64) {
            state.dropped_space.fetch_add(lines, Ordering::Relaxed);
            if !state.dropping.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    reserve = self.limits.reserve_bytes,
                    "audit lines dropped: the data volume has less than hooks.audit_reserve_bytes free"
                );
            }
            return Written::Dropped;
        }
        if self.size > 0
            && self.size + bytes.len() as u64 > self.limits.max_bytes
            && let Err(error) = self.rotate()
        {
            tracing::warn!(%error, "the audit log could not rotate; it keeps growing the current file");
        }
        match self.file.write_all(bytes).and_then(|()| self.file.sync_data()) {
            Ok(()) => {
                self.size += bytes.len() as u64;
                state.dropping.store(false, Ordering::Relaxed);
                Written::Durable
            }
            Err(error) => {
                // Cut a partial write back, so the next line starts a line.
                let _ = self.file.set_len(self.size);
                state.dropped_error.fetch_add(lines, Ordering::Relaxed);
                if !state.dropping.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "audit lines dropped: the write failed");
                }
                Written::Dropped
            }
        }
    }

    /// `audit.jsonl` becomes `audit.jsonl.1`, `.1` becomes `.2`, …; the oldest past
    /// `keep` is removed; the directory is synced so the new names survive a crash.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: usize| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        match std::fs::remove_file(numbered(self.limits.keep.max(1))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..self.limits.keep.max(1)).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = open_log(&self.path)?;
        self.size = 0;
        if let Some(dir) = self.path.parent() {
            tether_store::atomic::sync_dir(dir)?;
        }
        self.state.rotations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Bytes an unprivileged writer may still use on the file's volume (`None` if unknown).
fn free_bytes(file: &File) -> Option<u64> {
    let stat = rustix::fs::fstatvfs(file).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: &str) -> AuditEntry<'_> {
        AuditEntry {
            ts: "t".into(),
            session_id: None,
            agent_id: None,
            claude_session_id: None,
            event,
            tool: None,
            decision: "none",
            rule: None,
            reason: None,
            trimmed: &[],
            review: None,
        }
    }

    #[tokio::test]
    async fn rotates_at_its_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::open(&path, AuditLimits { max_bytes: 1000, keep: 2, reserve_bytes: 0 }).unwrap();
        let name = "x".repeat(200);
        for _ in 0..40 {
            assert_eq!(audit.append(&entry(&name)).await, Written::Durable);
        }
        let mut files: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        files.sort();
        assert_eq!(files, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]);
        for file in &files {
            let len = std::fs::metadata(dir.path().join(file)).unwrap().len();
            assert!(len <= 1000, "{file} is {len} bytes");
        }
        assert!(audit.status().rotations >= 10);
        assert_eq!(
            audit.recent(5, None).unwrap().len(),
            std::fs::read_to_string(&path).unwrap().lines().count().min(5)
        );
    }

    #[tokio::test]
    async fn drops_lines_rather_than_write_into_the_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit =
            Audit::open(&path, AuditLimits { max_bytes: 1 << 20, keep: 1, reserve_bytes: u64::MAX / 2 }).unwrap();
        assert_eq!(audit.append(&entry("PreToolUse")).await, Written::Dropped);
        let status = audit.status();
        assert_eq!((status.dropped_low_space, status.dropping), (1, true));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
