//! The session store: `<data-dir>/sessions/<id>/session.json`, replaced
//! atomically (temporary file, fsync, rename, fsync the directory) on every
//! transition, beside the session's `output.log`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tether_proto::sessions::SessionRecord;

/// What is persisted of a session: its public record and what the daemon needs to
/// run, adopt, and authenticate it again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub(crate) record: SessionRecord,
    /// SHA-256 (hex) of the secret of the session's current token; the secret
    /// itself is only ever in the process's environment.
    #[serde(default)]
    pub(crate) token_hash: String,
    pub(crate) env: BTreeMap<String, String>,
    /// The process's start time (clock ticks since boot), to tell it from a reused pid.
    pub(crate) start_time: Option<u64>,
    /// Set before the stop signal is sent, so a stop survives a crash mid-stop.
    pub(crate) stop_requested: bool,
    /// Names the current process's span (its start is this id's time): written at its
    /// exit, by whichever daemon sees it, and its parent in the process's `TRACEPARENT`.
    #[serde(default)]
    pub(crate) process: Option<ulid::Ulid>,
}

#[derive(Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    pub(crate) fn open(dir: PathBuf) -> io::Result<Store> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(Store { dir })
    }

    pub(crate) fn session_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.session_dir(id).join("output.log")
    }

    pub(crate) fn create_dir(&self, id: &str) -> io::Result<PathBuf> {
        let dir = self.session_dir(id);
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        tether_store::atomic::sync_dir(&self.dir)?;
        Ok(dir)
    }

    pub(crate) fn save(&self, stored: &Stored) -> io::Result<()> {
        let target = self.session_dir(&stored.record.session_id).join("session.json");
        tether_store::atomic::write(&target, &serde_json::to_vec_pretty(stored).map_err(io::Error::other)?)
    }

    /// Every stored session; an unreadable one is logged and skipped, never deleted.
    pub(crate) fn load_all(&self) -> io::Result<Vec<Stored>> {
        let mut all = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path().join("session.json");
            let Ok(bytes) = fs::read(&path) else { continue };
            match serde_json::from_slice(&bytes) {
                Ok(stored) => all.push(stored),
                Err(error) => tracing::warn!(path = %path.display(), %error, "unreadable session record; left as is"),
            }
        }
        Ok(all)
    }

    /// Deletes a session's directory (record and output log), durably.
    pub(crate) fn delete(&self, id: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.session_dir(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        tether_store::atomic::sync_dir(&self.dir)
    }
}
