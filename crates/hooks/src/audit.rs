//! The audit log: one JSON line per hook and decision in `<data-dir>/audit.jsonl`,
//! fsynced before the decision is answered. One writer thread owns the file and
//! writes every line waiting with one `fdatasync` (group commit), so a hook never
//! holds a runtime thread through a sync.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::mpsc;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::error::HooksError;

type Waiter = oneshot::Sender<Result<(), String>>;

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
}

pub(crate) struct Audit {
    writer: parking_lot::Mutex<mpsc::Sender<(Vec<u8>, Waiter)>>,
    path: std::path::PathBuf,
}

/// How far back from the end `recent` reads: the log only grows, a read must not.
const TAIL_BYTES: u64 = 4 << 20;

impl Audit {
    pub(crate) fn open(path: &Path) -> Result<Audit, HooksError> {
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        let (writer, lines) = mpsc::channel();
        std::thread::Builder::new().name("audit-writer".into()).spawn(move || write_lines(file, lines))?;
        Ok(Audit { writer: parking_lot::Mutex::new(writer), path: path.to_owned() })
    }

    /// The newest `limit` entries (of `session`, if given), oldest first, from the
    /// last few MiB of the log.
    pub(crate) fn recent(&self, limit: usize, session: Option<&str>) -> Result<Vec<serde_json::Value>, HooksError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = File::open(&self.path)?;
        let len = file.metadata()?.len();
        let start = len.saturating_sub(TAIL_BYTES);
        file.seek(SeekFrom::Start(start))?;
        let mut text = String::new();
        file.take(TAIL_BYTES).read_to_string(&mut text).map_err(|e| HooksError::Io(e.to_string()))?;
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

    /// Resolves once the line is on disk.
    pub(crate) async fn append(&self, entry: &AuditEntry<'_>) -> Result<(), HooksError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| HooksError::Io(e.to_string()))?;
        line.push(b'\n');
        let (done, synced) = oneshot::channel();
        let stopped = || HooksError::Io("the audit writer has stopped".into());
        self.writer.lock().send((line, done)).map_err(|_| stopped())?;
        synced.await.map_err(|_| stopped())?.map_err(HooksError::Io)
    }
}

/// The writer thread: takes every line waiting, writes them, syncs once, answers all.
fn write_lines(mut file: File, lines: mpsc::Receiver<(Vec<u8>, Waiter)>) {
    while let Ok(first) = lines.recv() {
        let mut batch = vec![first];
        batch.extend(lines.try_iter());
        let mut bytes = Vec::with_capacity(batch.iter().map(|(line, _)| line.len()).sum());
        for (line, _) in &batch {
            bytes.extend_from_slice(line);
        }
        let written = file.write_all(&bytes).and_then(|()| file.sync_data()).map_err(|e| e.to_string());
        for (_, done) in batch {
            let _ = done.send(written.clone());
        }
    }
}
