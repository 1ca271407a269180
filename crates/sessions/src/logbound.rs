//! A session's output log stays bounded however much its process writes. Once the
//! blocks the log holds pass `sessions.max_log_bytes`, its oldest part is punched out
//! (`fallocate(PUNCH_HOLE)`), keeping the newest half of the bound. The file's length
//! does not change, so offsets keep their meaning and readers start at the first byte
//! still held; the process's descriptor is never touched (it may outlive the daemon,
//! writing with `O_APPEND`), so nothing it writes meanwhile is lost.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustix::fs::FallocateFlags;
use tether_proto::sessions::SessionState;

use crate::manager::Sessions;

/// How often active sessions' logs are measured: a log may pass its bound by what its
/// process writes in this time.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Holes are punched in whole filesystem blocks (4 KiB or a multiple on Linux filesystems).
const BLOCK: u64 = 4096;

/// Releases the head of the log at `path` if it holds more than `max` bytes on disk;
/// how many bytes of the file were released.
pub(crate) fn bound(path: &Path, max: u64) -> io::Result<u64> {
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if meta.blocks() * 512 <= max {
        return Ok(0);
    }
    let held_from = first_held(&file, meta.len())?;
    let cut = meta.len().saturating_sub(max / 2) / BLOCK * BLOCK;
    if cut <= held_from {
        return Ok(0);
    }
    rustix::fs::fallocate(&file, FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE, held_from, cut - held_from)?;
    Ok(cut - held_from)
}

/// The offset of the log's first byte still held: after the released head, if any.
pub(crate) fn first_held(file: &File, len: u64) -> io::Result<u64> {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(0)) {
        Ok(at) => Ok(at),
        // Nothing but hole from 0 to the end.
        Err(rustix::io::Errno::NXIO) => Ok(len),
        Err(e) => Err(e.into()),
    }
}

impl Sessions {
    /// Bounds every active session's log on a timer, off the request path, for as long
    /// as the sessions live; an exited one is bounded once more at its exit.
    pub(crate) fn bound_logs(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                let Some(this) = weak.upgrade() else { return };
                let active: Vec<String> = this
                    .sessions
                    .lock()
                    .iter()
                    .filter(|(_, m)| m.state() == SessionState::Active)
                    .map(|(id, _)| id.clone())
                    .collect();
                if active.is_empty() {
                    continue;
                }
                let _ = tokio::task::spawn_blocking(move || {
                    for id in active {
                        this.bound_log(&id);
                    }
                })
                .await;
            }
        });
    }

    /// Bounds one session's log (blocking), logging what it released or why it could not.
    pub(crate) fn bound_log(&self, id: &str) {
        let max = self.config.max_log_bytes;
        match bound(&self.store.log_path(id), max) {
            Ok(0) => {}
            Ok(released) => {
                tracing::debug!(session = %id, released, "output log past sessions.max_log_bytes; its head released")
            }
            Err(error) => tracing::warn!(session = %id, %error, "cannot bound the output log (sessions.max_log_bytes)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_log_past_its_bound_keeps_its_length_and_newest_bytes_and_holds_at_most_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let mut log = OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        for _ in 0..64 {
            log.write_all(&chunk).unwrap(); // 4 MiB
        }
        let max = 1 << 20;
        assert!(bound(&path, max).unwrap() > 0);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 4 << 20, "offsets keep their meaning");
        assert!(meta.blocks() * 512 <= max, "{} bytes held", meta.blocks() * 512);
        let file = File::open(&path).unwrap();
        let from = first_held(&file, meta.len()).unwrap();
        assert!(from > 0 && from <= (4 << 20) - max / 2, "held from {from}");
        let tail = std::fs::read(&path).unwrap();
        assert_eq!(&tail[tail.len() - chunk.len()..], &chunk[..], "the newest bytes are kept");
        // The writer's descriptor appends after the kept bytes, as before.
        log.write_all(b"after\n").unwrap();
        assert!(std::fs::read(&path).unwrap().ends_with(b"after\n"));
        assert_eq!(bound(&path, max).unwrap(), 0, "under the bound now");
    }
}
