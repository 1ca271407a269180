//! Removed sessions go away: after `sessions.removed_retention_ms` a removed session's
//! directory (its record and output log) is deleted and it is forgotten, so the
//! sessions directory follows what is live, not every session ever spawned.

use std::sync::Arc;
use std::time::Duration;

use tether_proto::sessions::SessionState;
use time::OffsetDateTime;

use crate::manager::Sessions;

/// How often removed sessions past retention are looked for (sooner when the retention
/// itself is shorter).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Sessions {
    /// Deletes removed sessions whose removal is older than the retention; how many.
    pub(crate) fn prune_removed(&self) -> usize {
        let retention = time::Duration::milliseconds(self.config.removed_retention_ms.min(i64::MAX as u64) as i64);
        let before = OffsetDateTime::now_utc() - retention;
        let due: Vec<String> = self
            .sessions
            .lock()
            .iter()
            .filter(|(_, m)| {
                let stored = m.stored.lock();
                stored.record.state == SessionState::Removed
                    && tether_core::stamp::parse(&stored.record.updated_at).is_some_and(|at| at < before)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut pruned = 0;
        for id in due {
            match self.store.delete(&id) {
                Ok(()) => {
                    self.sessions.lock().remove(&id);
                    pruned += 1;
                    tracing::debug!(session = %id, "removed session past sessions.removed_retention_ms deleted");
                }
                Err(error) => tracing::warn!(session = %id, %error, "could not delete a removed session's directory"),
            }
        }
        pruned
    }

    /// Prunes on a timer, off the request path, for as long as the sessions live.
    pub(crate) fn sweep_removed(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let every =
            Duration::from_millis(self.config.removed_retention_ms).clamp(Duration::from_millis(50), SWEEP_EVERY);
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(this) = weak.upgrade() else { return };
                let _ = tokio::task::spawn_blocking(move || this.prune_removed()).await;
            }
        });
    }
}
