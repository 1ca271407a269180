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

pub(crate) struct Audit(Mutex<File>);

impl Audit {
    pub(crate) fn open(path: &Path) -> Result<Audit, HooksError> {
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        Ok(Audit(Mutex::new(file)))
    }

    pub(crate) fn append(&self, entry: &AuditEntry<'_>) -> Result<(), HooksError> {
        let mut line = serde_json::to_vec(entry).map_err(|e| HooksError::Io(e.to_string()))?;
        line.push(b'\n');
        let mut file = self.0.lock();
        file.write_all(&line)?;
        file.sync_data()?;
        Ok(())
    }
}
