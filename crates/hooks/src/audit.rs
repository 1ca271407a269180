//! The audit log: one JSON line per hook and decision in `<data-dir>/audit.jsonl`,
//! fsynced before the decision is answered.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::Serialize;

use crate::error::HooksError;

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
    file: Mutex<File>,
    path: std::path::PathBuf,
}

/// How far back from the end `recent` reads: the log only grows, a read must not.
const TAIL_BYTES: u64 = 4 << 20;

impl Audit {
    pub(crate) fn open(path: &Path) -> Result<Audit, HooksError> {
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(Audit { file: Mutex::new(file), path: path.to_owned() })
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

    pub(crate) fn append(&self, entry: &AuditEntry<'_>) -> Result<(), HooksError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| HooksError::Io(e.to_string()))?;
        line.push(b'\n');
        let mut file = self.file.lock();
        file.write_all(&line)?;
        file.sync_data()?;
        Ok(())
    }
}
