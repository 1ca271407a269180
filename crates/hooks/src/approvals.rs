//! Approvals: an `ask` waits for the operator. Each is persisted atomically in
//! `<data-dir>/approvals/<id>.json`, so pending ones survive a restart; one that
//! expired while the daemon was down reads `expired`. Pending approvals are capped
//! per session (or agent), and settled ones are deleted after a retention period.
//! Whether a hook waits on one is known here (`waiting`); one nobody has waited on for
//! `abandon_after` is settled `abandoned`, since an answer would reach no one.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tether_core::stamp;
use tether_proto::hooks::{Approval, ApprovalState, Resolution};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::error::HooksError;

pub(crate) struct Approvals {
    dir: PathBuf,
    ttl: Duration,
    retention: Duration,
    abandon_after: Duration,
    all: Mutex<BTreeMap<String, Entry>>,
    /// Approvals that expired or were abandoned here, not yet announced as events.
    unannounced: Mutex<Vec<Approval>>,
    /// Told how long each approval waited for a person (`/metrics`).
    pub(crate) observer: std::sync::OnceLock<std::sync::Arc<dyn tether_telemetry::Observe>>,
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
            approvals.expire_due()?;
        }
        let approval = approvals.all.lock().get(id).map(|e| e.approval.clone());
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
        if let Some(entry) = self.approvals.all.lock().get_mut(self.id) {
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
    pub(crate) fn open(
        dir: PathBuf,
        ttl: Duration,
        retention: Duration,
        abandon_after: Duration,
    ) -> Result<Approvals, HooksError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        let approvals = Approvals {
            dir,
            ttl,
            retention,
            abandon_after,
            all: Mutex::default(),
            unannounced: Mutex::default(),
            observer: std::sync::OnceLock::new(),
        };
        for entry in std::fs::read_dir(&approvals.dir)? {
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
                    approvals.all.lock().insert(approval.approval_id.clone(), Entry::new(approval));
                }
                Err(error) => tracing::warn!(path = %path.display(), %error, "unreadable approval; left as is"),
            }
        }
        approvals.expire_due()?;
        Ok(approvals)
    }

    pub(crate) fn create(&self, asked: Asked, max_pending: usize) -> Result<Approval, HooksError> {
        let Asked { session_id, agent_id, event, tool, input, rule, kind, flagged_by, flag_reason } = asked;
        self.expire_due()?;
        let pending = self
            .all
            .lock()
            .values()
            .filter(|e| e.approval.state == ApprovalState::Pending)
            .filter(|e| e.approval.session_id == session_id && e.approval.agent_id == agent_id)
            .count();
        if pending >= max_pending {
            return Err(HooksError::Limit {
                what: "too many pending approvals for this session",
                limit: "hooks.max_pending_approvals",
                value: max_pending,
            });
        }
        let created = OffsetDateTime::now_utc();
        let approval = Approval {
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
        };
        self.persist(&approval)?;
        self.all.lock().insert(approval.approval_id.clone(), Entry::new(approval.clone()));
        Ok(approval)
    }

    pub(crate) fn resolve(
        &self,
        id: &str,
        decision: Resolution,
        reason: Option<String>,
        raise: Option<f64>,
    ) -> Result<Approval, HooksError> {
        self.expire_due()?;
        let mut all = self.all.lock();
        let entry = all
            .get_mut(id)
            .filter(|e| e.approval.state == ApprovalState::Pending)
            .ok_or_else(|| HooksError::UnknownApproval(id.to_owned()))?;
        let mut resolved = entry.approval.clone();
        resolved.state = if decision == Resolution::Allow { ApprovalState::Allowed } else { ApprovalState::Denied };
        resolved.resolved_at = Some(stamp::now());
        resolved.reason = reason;
        resolved.raise = raise.filter(|_| decision == Resolution::Allow);
        self.persist(&resolved)?;
        entry.approval = resolved.clone();
        entry.settled.send_replace(resolved.state);
        self.settled(&resolved);
        tracing::info!(approval = %id, state = ?resolved.state, "approval resolved");
        Ok(resolved)
    }

    /// Waits up to `wait` for the approval to settle (resolution or expiry).
    /// Counts a hook as waiting on `id` from now until the `Waiter` is dropped.
    pub(crate) fn waiter<'a>(&'a self, id: &'a str) -> Result<Waiter<'a>, HooksError> {
        let mut all = self.all.lock();
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
        self.all.lock().get(id).map(Entry::shown)
    }

    /// Ids of the approvals still pending here.
    pub(crate) fn pending_ids(&self) -> Vec<String> {
        let all = self.all.lock();
        all.values()
            .filter(|e| e.approval.state == ApprovalState::Pending)
            .map(|e| e.approval.approval_id.clone())
            .collect()
    }

    /// An approval settled on another node: applied here (durably, and the waiting
    /// hook woken) if it is still pending here. True if it changed anything.
    pub(crate) fn apply(&self, settled: &Approval) -> Result<bool, HooksError> {
        let mut all = self.all.lock();
        let Some(entry) = all.get_mut(&settled.approval_id) else { return Ok(false) };
        if entry.approval.state != ApprovalState::Pending || settled.state == ApprovalState::Pending {
            return Ok(false);
        }
        self.persist(settled)?;
        entry.approval = settled.clone();
        entry.settled.send_replace(settled.state);
        self.settled(settled);
        Ok(true)
    }

    pub(crate) fn list(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>, HooksError> {
        self.expire_due()?;
        let all = self.all.lock();
        Ok(all.values().map(Entry::shown).filter(|a| state.is_none_or(|s| a.state == s)).collect())
    }

    /// Marks every pending approval past its expiry `expired`, and one nobody has
    /// waited on for `abandon_after` `abandoned`, durably, and deletes settled ones
    /// older than the retention period.
    pub(crate) fn expire_due(&self) -> Result<(), HooksError> {
        let now_t = OffsetDateTime::now_utc();
        let now_i = Instant::now();
        let mut all = self.all.lock();
        let forget_before = now_t - self.retention;
        let stale: Vec<String> = all
            .values()
            .filter(|e| e.approval.state != ApprovalState::Pending)
            .filter(|e| e.approval.resolved_at.as_deref().and_then(stamp::parse).is_some_and(|t| t < forget_before))
            .map(|e| e.approval.approval_id.clone())
            .collect();
        for id in stale {
            match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            all.remove(&id);
            tracing::debug!(approval = %id, "settled approval past hooks.approval_retention_ms deleted");
        }
        for entry in all.values_mut() {
            if entry.approval.state != ApprovalState::Pending {
                continue;
            }
            let state = if stamp::parse(&entry.approval.expires_at).is_some_and(|t| t <= now_t) {
                ApprovalState::Expired
            } else if entry.idle_since.is_some_and(|t| now_i.duration_since(t) >= self.abandon_after) {
                ApprovalState::Abandoned
            } else {
                continue;
            };
            let mut settled = entry.approval.clone();
            settled.state = state;
            settled.resolved_at = Some(stamp::format(now_t));
            self.persist(&settled)?;
            self.settled(&settled);
            entry.approval = settled;
            entry.settled.send_replace(state);
            self.unannounced.lock().push(entry.approval.clone());
            tracing::info!(approval = %entry.approval.approval_id, ?state, "approval settled without an answer");
        }
        Ok(())
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

    /// The approvals settled without an answer since the last call (for events).
    pub(crate) fn take_unannounced(&self) -> Vec<Approval> {
        std::mem::take(&mut *self.unannounced.lock())
    }

    fn persist(&self, approval: &Approval) -> Result<(), HooksError> {
        let path = self.dir.join(format!("{}.json", approval.approval_id));
        let bytes = serde_json::to_vec_pretty(approval).map_err(|e| HooksError::Io(e.to_string()))?;
        Ok(tether_store::atomic::write(&path, &bytes)?)
    }
}
