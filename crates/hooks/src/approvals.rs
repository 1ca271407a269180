//! Approvals: an `ask` waits for the operator. Each is persisted atomically in
//! `<data-dir>/approvals/<id>.json`, so pending ones survive a restart; one that
//! expired while the daemon was down reads `expired`. Pending approvals are capped
//! per session (or agent), and settled ones are deleted after a retention period.
//! Whether a hook waits on one is known here (`waiting`); one nobody has waited on for
//! `abandon_after` is settled `abandoned`, since an answer would reach no one.
//!
//! Every change is written (and fsynced) on tokio's blocking pool, one at a time, and
//! becomes visible only once durable: readers never wait on a disk, and a caller that
//! goes away mid-write cannot leave memory and disk apart (the blocking task finishes).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tether_core::stamp;
use tether_proto::hooks::{Approval, ApprovalState, Resolution};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::error::HooksError;

/// The approvals of this node: reads are immediate, changes are async (durable first).
pub(crate) struct Approvals {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    dir: PathBuf,
    ttl: Duration,
    retention: Duration,
    abandon_after: Duration,
    all: Mutex<BTreeMap<String, Entry>>,
    /// Held by whichever change is being made (on a blocking thread), so changes are
    /// decided and written one at a time while `all` is held only to read or commit.
    writes: Mutex<()>,
    /// Approvals that expired or were abandoned here, not yet announced as events.
    unannounced: Mutex<Vec<Approval>>,
    /// Told how long each approval waited for a person (`/metrics`).
    observer: std::sync::OnceLock<std::sync::Arc<dyn tether_telemetry::Observe>>,
}

struct Entry {
    approval: Approval,
    /// Changes when the approval is resolved or expires.
    settled: watch::Sender<ApprovalState>,
    /// Hooks waiting on it now, and since when none has (while pending).
    waiters: usize,
    idle_since: Option<Instant>,
}

impl Entry {
    fn new(approval: Approval) -> Entry {
        let (settled, _) = watch::channel(approval.state);
        Entry { approval, settled, waiters: 0, idle_since: Some(Instant::now()) }
    }

    /// The approval as listed: `waiting` is live, never read from disk.
    fn shown(&self) -> Approval {
        Approval { waiting: self.waiters > 0, ..self.approval.clone() }
    }
}

/// Counts one waiting hook while it lives; dropped (the wait ended, or the hook's
/// connection went and its future with it), the approval may become abandoned.
/// Made before the approval is announced, so that anyone who lists it on hearing of
/// it reads `waiting: true`.
pub(crate) struct Waiter<'a> {
    approvals: &'a Approvals,
    id: &'a str,
    settled: watch::Receiver<ApprovalState>,
    expires_at: Option<OffsetDateTime>,
}

impl Waiter<'_> {
    /// Waits up to `wait` for the approval to settle (resolution or expiry).
    pub(crate) async fn wait(mut self, wait: Duration) -> Result<Outcome, HooksError> {
        let (approvals, id) = (self.approvals, self.id);
        let until_expiry = self
            .expires_at
            .map_or(Duration::ZERO, |t| (t - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO));
        let limit = wait.min(until_expiry);
        let settled_in_time =
            tokio::time::timeout(limit, self.settled.wait_for(|s| *s != ApprovalState::Pending)).await.is_ok();
        drop(self);
        if !settled_in_time && wait >= until_expiry {
            approvals.expire_due().await?;
        }
        let approval = approvals.inner.all.lock().get(id).map(|e| e.approval.clone());
        Ok(match approval {
            Some(approval) if approval.state == ApprovalState::Pending => Outcome::StillPending,
            Some(approval) if !matches!(approval.state, ApprovalState::Expired | ApprovalState::Abandoned) => {
                Outcome::Resolved(Box::new(approval))
            }
            // Expired, or settled so long ago that retention removed it.
            _ => Outcome::Expired,
        })
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.approvals.inner.all.lock().get_mut(self.id) {
            entry.waiters = entry.waiters.saturating_sub(1);
            if entry.waiters == 0 {
                entry.idle_since = Some(Instant::now());
            }
        }
    }
}

/// What an `ask` is about: the fields of a new approval.
pub(crate) struct Asked<'a> {
    pub(crate) session_id: Option<String>,
    pub(crate) agent_id: Option<String>,
    pub(crate) event: &'a str,
    pub(crate) tool: Option<String>,
    pub(crate) input: Value,
    pub(crate) rule: Option<String>,
    /// Absent for a hook; `budget` for a run's budget.
    pub(crate) kind: Option<String>,
    /// The overseer that answered `ask`, and its reason (or why a review fell back to `ask`).
    pub(crate) flagged_by: Option<String>,
    pub(crate) flag_reason: Option<String>,
}

/// How waiting on an approval ended.
pub(crate) enum Outcome {
    Resolved(Box<Approval>),
    Expired,
    StillPending,
}

impl Approvals {
    /// Loads the approvals kept in `dir` (at boot, before anything is served).
    pub(crate) fn open(
        dir: PathBuf,
        ttl: Duration,
        retention: Duration,
        abandon_after: Duration,
    ) -> Result<Approvals, HooksError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        let inner = Inner {
            dir,
            ttl,
            retention,
            abandon_after,
            all: Mutex::default(),
            writes: Mutex::default(),
            unannounced: Mutex::default(),
            observer: std::sync::OnceLock::new(),
        };
        for entry in std::fs::read_dir(&inner.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Approval>(&b).map_err(|e| e.to_string()))
            {
                // No hook can wait on one across a restart: those pending are abandoned
                // after `abandon_after`, unless resolved (or expired) first.
                Ok(approval) => {
                    inner.all.lock().insert(approval.approval_id.clone(), Entry::new(approval));
                }
                Err(error) => tracing::warn!(path = %path.display(), %error, "unreadable approval; left as is"),
            }
        }
        inner.expire_due()?;
        Ok(Approvals { inner: Arc::new(inner) })
    }

    /// Runs a change on the blocking pool, to its end even if this caller is dropped.
    async fn change<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, HooksError> + Send + 'static,
    ) -> Result<T, HooksError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner)).await.map_err(|e| HooksError::Io(e.to_string()))?
    }

    pub(crate) async fn create(&self, asked: Asked<'_>, max_pending: usize) -> Result<Approval, HooksError> {
        let approval = self.inner.draft(asked);
        self.change(move |inner| inner.insert(approval, max_pending)).await
    }

    pub(crate) async fn resolve(
        &self,
        id: &str,
        decision: Resolution,
        reason: Option<String>,
        raise: Option<f64>,
    ) -> Result<Approval, HooksError> {
        let id = id.to_owned();
        self.change(move |inner| inner.resolve(&id, decision, reason, raise)).await
    }

    /// An approval settled on another node: applied here (durably, and the waiting
    /// hook woken) if it is still pending here. True if it changed anything.
    pub(crate) async fn apply(&self, settled: &Approval) -> Result<bool, HooksError> {
        let settled = settled.clone();
        self.change(move |inner| inner.apply(settled)).await
    }

    /// Settles what is due (expiry, abandonment) and forgets what is past retention.
    pub(crate) async fn expire_due(&self) -> Result<(), HooksError> {
        self.change(Inner::expire_due).await
    }

    pub(crate) async fn list(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>, HooksError> {
        self.expire_due().await?;
        let all = self.inner.all.lock();
        Ok(all.values().map(Entry::shown).filter(|a| state.is_none_or(|s| a.state == s)).collect())
    }

    /// Counts a hook as waiting on `id` from now until the `Waiter` is dropped.
    pub(crate) fn waiter<'a>(&'a self, id: &'a str) -> Result<Waiter<'a>, HooksError> {
        let mut all = self.inner.all.lock();
        let entry = all.get_mut(id).ok_or_else(|| HooksError::UnknownApproval(id.to_owned()))?;
        entry.waiters += 1;
        entry.idle_since = None;
        Ok(Waiter {
            approvals: self,
            id,
            settled: entry.settled.subscribe(),
            expires_at: stamp::parse(&entry.approval.expires_at),
        })
    }

    pub(crate) fn get(&self, id: &str) -> Option<Approval> {
        self.inner.all.lock().get(id).map(Entry::shown)
    }

    /// Ids of the approvals still pending here.
    pub(crate) fn pending_ids(&self) -> Vec<String> {
        let all = self.inner.all.lock();
        all.values()
            .filter(|e| e.approval.state == ApprovalState::Pending)
            .map(|e| e.approval.approval_id.clone())
            .collect()
    }

    /// The approvals settled without an answer since the last call (for events).
    pub(crate) fn take_unannounced(&self) -> Vec<Approval> {
        std::mem::take(&mut *self.inner.unannounced.lock())
    }

    /// Told how long each approval waited for a person (`/metrics`).
    pub(crate) fn observe(&self, observer: Arc<dyn tether_telemetry::Observe>) {
        let _ = self.inner.observer.set(observer);
    }
}

/// A pending approval as the operator's answer settles it (here, or on the shared board):
/// a raise counts only with an allow.
pub(crate) fn answered(
    pending: Approval,
    decision: Resolution,
    reason: Option<String>,
    raise: Option<f64>,
) -> Approval {
    let allow = decision == Resolution::Allow;
    Approval {
        state: if allow { ApprovalState::Allowed } else { ApprovalState::Denied },
        resolved_at: Some(stamp::now()),
        reason,
        raise: raise.filter(|_| allow),
        ..pending
    }
}

/// The changes themselves, synchronous: each holds `writes` throughout and `all` only
/// to read what it decides on and to commit what it wrote.
impl Inner {
    fn draft(&self, asked: Asked) -> Approval {
        let Asked { session_id, agent_id, event, tool, input, rule, kind, flagged_by, flag_reason } = asked;
        let created = OffsetDateTime::now_utc();
        Approval {
            approval_id: tether_core::new_id().to_string(),
            session_id,
            agent_id,
            event: event.to_owned(),
            tool,
            input,
            created_at: stamp::format(created),
            expires_at: stamp::format(created + self.ttl),
            state: ApprovalState::Pending,
            waiting: false,
            rule,
            flagged_by,
            flag_reason,
            resolved_at: None,
            reason: None,
            kind,
            raise: None,
        }
    }

    fn insert(&self, approval: Approval, max_pending: usize) -> Result<Approval, HooksError> {
        let _writes = self.writes.lock();
        self.settle_due()?;
        let pending = self
            .all
            .lock()
            .values()
            .filter(|e| e.approval.state == ApprovalState::Pending)
            .filter(|e| e.approval.session_id == approval.session_id && e.approval.agent_id == approval.agent_id)
            .count();
        if pending >= max_pending {
            return Err(HooksError::Limit {
                what: "too many pending approvals for this session",
                limit: "hooks.max_pending_approvals",
                value: max_pending,
            });
        }
        self.persist(&approval)?;
        self.all.lock().insert(approval.approval_id.clone(), Entry::new(approval.clone()));
        Ok(approval)
    }

    fn resolve(
        &self,
        id: &str,
        decision: Resolution,
        reason: Option<String>,
        raise: Option<f64>,
    ) -> Result<Approval, HooksError> {
        let _writes = self.writes.lock();
        self.settle_due()?;
        let pending =
            self.all.lock().get(id).filter(|e| e.approval.state == ApprovalState::Pending).map(|e| e.approval.clone());
        let resolved =
            answered(pending.ok_or_else(|| HooksError::UnknownApproval(id.to_owned()))?, decision, reason, raise);
        self.persist(&resolved)?;
        self.commit(&resolved);
        tracing::info!(approval = %id, state = ?resolved.state, "approval resolved");
        Ok(resolved)
    }

    fn apply(&self, settled: Approval) -> Result<bool, HooksError> {
        let _writes = self.writes.lock();
        let pending_here =
            self.all.lock().get(&settled.approval_id).is_some_and(|e| e.approval.state == ApprovalState::Pending);
        if !pending_here || settled.state == ApprovalState::Pending {
            return Ok(false);
        }
        self.persist(&settled)?;
        self.commit(&settled);
        Ok(true)
    }

    fn expire_due(&self) -> Result<(), HooksError> {
        let _writes = self.writes.lock();
        self.settle_due()
    }

    /// Marks every pending approval past its expiry `expired`, and one nobody has
    /// waited on for `abandon_after` `abandoned`, durably, and deletes settled ones
    /// older than the retention period. The caller holds `writes`.
    fn settle_due(&self) -> Result<(), HooksError> {
        let now_t = OffsetDateTime::now_utc();
        let now_i = Instant::now();
        let forget_before = now_t - self.retention;
        let (stale, due) = {
            let all = self.all.lock();
            let stale: Vec<String> = all
                .values()
                .filter(|e| e.approval.state != ApprovalState::Pending)
                .filter(|e| e.approval.resolved_at.as_deref().and_then(stamp::parse).is_some_and(|t| t < forget_before))
                .map(|e| e.approval.approval_id.clone())
                .collect();
            let due: Vec<Approval> = all
                .values()
                .filter(|e| e.approval.state == ApprovalState::Pending)
                .filter_map(|entry| {
                    let state = if stamp::parse(&entry.approval.expires_at).is_some_and(|t| t <= now_t) {
                        ApprovalState::Expired
                    } else if entry.idle_since.is_some_and(|t| now_i.duration_since(t) >= self.abandon_after) {
                        ApprovalState::Abandoned
                    } else {
                        return None;
                    };
                    Some(Approval { state, resolved_at: Some(stamp::format(now_t)), ..entry.approval.clone() })
                })
                .collect();
            (stale, due)
        };
        for id in stale {
            match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            self.all.lock().remove(&id);
            tracing::debug!(approval = %id, "settled approval past hooks.approval_retention_ms deleted");
        }
        // A hook that began waiting after this was decided reads it settled: as if it
        // had come a moment later.
        for settled in due {
            self.persist(&settled)?;
            self.commit(&settled);
            tracing::info!(approval = %settled.approval_id, state = ?settled.state, "approval settled without an answer");
            self.unannounced.lock().push(settled);
        }
        Ok(())
    }

    /// Makes a settlement that is durable visible, and wakes whoever waits on it.
    fn commit(&self, settled: &Approval) {
        if let Some(entry) = self.all.lock().get_mut(&settled.approval_id) {
            entry.approval = settled.clone();
            entry.settled.send_replace(settled.state);
        }
        self.settled(settled);
    }

    /// Counts how long a settled approval waited, by how it settled.
    fn settled(&self, approval: &Approval) {
        let Some(observer) = self.observer.get() else { return };
        let created = stamp::parse(&approval.created_at);
        let resolved = approval.resolved_at.as_deref().and_then(stamp::parse);
        if let (Some(created), Some(resolved)) = (created, resolved) {
            let waited = (resolved - created).try_into().unwrap_or_default();
            let outcome = match approval.state {
                ApprovalState::Allowed => "allowed",
                ApprovalState::Denied => "denied",
                ApprovalState::Expired => "expired",
                ApprovalState::Abandoned => "abandoned",
                ApprovalState::Pending => return,
            };
            observer.approval_waited(outcome, waited);
        }
    }

    fn persist(&self, approval: &Approval) -> Result<(), HooksError> {
        let path = self.dir.join(format!("{}.json", approval.approval_id));
        let bytes = serde_json::to_vec_pretty(approval).map_err(|e| HooksError::Io(e.to_string()))?;
        Ok(tether_store::atomic::write(&path, &bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Asked<'static> {
        Asked {
            session_id: Some("s1".into()),
            agent_id: None,
            event: "PreToolUse",
            tool: Some("Bash".into()),
            input: serde_json::json!({"command": "ls"}),
            rule: None,
            kind: None,
            flagged_by: None,
            flag_reason: None,
        }
    }

    fn open(dir: &std::path::Path) -> Approvals {
        let hour = Duration::from_secs(3600);
        Approvals::open(dir.to_owned(), hour, hour, hour).unwrap()
    }

    #[tokio::test]
    async fn a_resolve_whose_caller_is_dropped_mid_write_still_lands_in_memory_and_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let approvals = open(dir.path());
        let id = approvals.create(asked(), 8).await.unwrap().approval_id;
        let waiter = approvals.waiter(&id).unwrap();
        {
            // One poll hands the write to the blocking pool; then the caller goes away,
            // as a cancelled request's handler does.
            let mut resolve = Box::pin(approvals.resolve(&id, Resolution::Allow, None, None));
            let _ = futures_poll_once(resolve.as_mut()).await;
        }
        match waiter.wait(Duration::from_secs(10)).await.unwrap() {
            Outcome::Resolved(approval) => assert_eq!(approval.state, ApprovalState::Allowed),
            _ => panic!("the dropped resolve never landed"),
        }
        let on_disk: Approval =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("{id}.json"))).unwrap()).unwrap();
        assert_eq!(on_disk.state, ApprovalState::Allowed);
        // And it is settled for good: a second answer finds nothing pending.
        assert!(matches!(
            approvals.resolve(&id, Resolution::Deny, None, None).await,
            Err(HooksError::UnknownApproval(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_answers_settle_an_approval_once() {
        let dir = tempfile::tempdir().unwrap();
        let approvals = Arc::new(open(dir.path()));
        let id = approvals.create(asked(), 8).await.unwrap().approval_id;
        let answers = [Resolution::Allow, Resolution::Deny, Resolution::Allow, Resolution::Deny].map(|decision| {
            let (approvals, id) = (approvals.clone(), id.clone());
            tokio::spawn(async move { approvals.resolve(&id, decision, None, None).await })
        });
        let mut settled = Vec::new();
        for answer in answers {
            if let Ok(approval) = answer.await.unwrap() {
                settled.push(approval.state);
            }
        }
        assert_eq!(settled.len(), 1, "exactly one answer wins: {settled:?}");
        let on_disk: Approval =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("{id}.json"))).unwrap()).unwrap();
        assert_eq!(on_disk.state, settled[0]);
        assert_eq!(approvals.get(&id).unwrap().state, settled[0]);
    }

    /// Polls a future once, whatever it returns.
    async fn futures_poll_once<F: std::future::Future + ?Sized>(
        future: std::pin::Pin<&mut F>,
    ) -> std::task::Poll<F::Output> {
        let mut future = Some(future);
        std::future::poll_fn(|cx| std::task::Poll::Ready(future.take().unwrap().poll(cx))).await
    }
}
