//! Overseers: connections that review hooks a `review` rule matched. Each registration
//! lives as long as its connection: it is kept on the connection (`Connection::state`),
//! whose `Drop` at close takes it out of the list, so no table is keyed by connection
//! and nothing asks the socket whether it is alive. A review in flight when the
//! connection closes fails at once (core fails every pending call at close).
//!
//! Which overseer reviews a hook: the first, in (`priority`, registration order), whose
//! event and tool globs both match. Only that one is asked; if it fails, the fallback
//! decides (a second opinion would make the deadline a sum of deadlines).

use parking_lot::{Mutex, RwLock};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tether_core::names::NameKind;
use tether_core::{CallError, Caller, NameLimits, Peer, PeerExt, stamp};
use tether_proto::overseers::{
    Fallback, Overseer, REVIEW, RegisterParams, ReviewCall, ReviewParams, ReviewResult, Verdict,
};

use crate::error::{HooksError, invalid};

/// Latencies kept per overseer for `overseers.list`'s percentiles.
const LATENCIES_KEPT: usize = 1024;

/// The bounds on what a registration may hold (from `[hooks]` and `[limits.names]`).
pub(crate) struct OverseerLimits<'a> {
    pub(crate) max_overseers: usize,
    pub(crate) max_globs: usize,
    pub(crate) names: &'a NameLimits,
}

#[derive(Default)]
pub(crate) struct Overseers {
    next: AtomicU64,
    /// Sorted by (priority, registration order): the first match reviews.
    list: RwLock<Vec<Arc<Entry>>>,
}

struct Entry {
    seq: u64,
    id: String,
    name: String,
    events: Vec<glob::Pattern>,
    tools: Vec<glob::Pattern>,
    priority: i32,
    registered_at: String,
    client: Arc<dyn Peer>,
    stats: Mutex<Stats>,
}

#[derive(Default)]
struct Stats {
    reviews: u64,
    allowed: u64,
    denied: u64,
    asked: u64,
    abstained: u64,
    failed: u64,
    latencies_ms: VecDeque<f64>,
}

/// A connection's registrations, kept on the connection: dropped when it closes (or,
/// for a registration that raced the close, when that request lets go of it).
struct Registrations {
    seqs: Mutex<Vec<u64>>,
    overseers: Weak<Overseers>,
}

impl Drop for Registrations {
    fn drop(&mut self) {
        if let Some(overseers) = self.overseers.upgrade() {
            let seqs = std::mem::take(self.seqs.get_mut());
            overseers.list.write().retain(|e| !seqs.contains(&e.seq));
        }
    }
}

/// The overseer a hook goes to, and how to reach it.
pub(crate) struct Chosen(Arc<Entry>);

/// How asking an overseer ended.
pub(crate) enum Asked {
    Answered(ReviewResult),
    Failed(Fallback, String),
}

impl Overseers {
    /// Registers the caller's connection as an overseer (the caller is the operator:
    /// access is checked at registration of the method).
    pub(crate) fn register(
        self: &Arc<Self>,
        caller: &Caller,
        params: RegisterParams,
        limits: OverseerLimits<'_>,
    ) -> Result<Overseer, HooksError> {
        limits.names.check(NameKind::Agent, "params.name", &params.name)?;
        if params.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let default_events = || vec!["PreToolUse".to_owned(), "PermissionRequest".to_owned()];
        let events = params.events.unwrap_or_else(default_events);
        let tools = params.tools.unwrap_or_else(|| vec!["*".to_owned()]);
        let events = globs(&events, "events", NameKind::Event, &limits)?;
        let tools = globs(&tools, "tools", NameKind::Tool, &limits)?;
        let registrations =
            caller.connection().state(|| Registrations { seqs: Mutex::default(), overseers: Arc::downgrade(self) });
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            seq,
            id: tether_core::new_id().to_string(),
            name: params.name,
            events,
            tools,
            priority: params.priority.unwrap_or(0),
            registered_at: stamp::now(),
            client: caller.client().clone(),
            stats: Mutex::default(),
        });
        {
            let mut list = self.list.write();
            if list.len() >= limits.max_overseers {
                return Err(HooksError::Limit {
                    what: "too many overseers registered",
                    limit: "hooks.max_overseers",
                    value: limits.max_overseers,
                });
            }
            let at = list.partition_point(|e| (e.priority, e.seq) < (entry.priority, entry.seq));
            list.insert(at, entry.clone());
        }
        // Recorded on the connection after it is listed: if the connection closed
        // meanwhile, `registrations` is ours alone and its drop unlists it now.
        registrations.seqs.lock().push(seq);
        drop(registrations);
        Ok(entry.shown())
    }

    pub(crate) fn list(&self) -> Vec<Overseer> {
        self.list.read().iter().map(|e| e.shown()).collect()
    }

    /// The overseer that reviews this hook, if one is connected.
    pub(crate) fn choose(&self, event: &str, tool: Option<&str>) -> Option<Chosen> {
        let list = self.list.read();
        list.iter().find(|e| e.matches(event, tool)).cloned().map(Chosen)
    }
}

impl Chosen {
    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    /// Sends `hooks.review` and waits at most `deadline`; counts the outcome.
    pub(crate) async fn ask(&self, params: ReviewParams, deadline: Duration) -> (Asked, Duration) {
        let entry = &self.0;
        entry.stats.lock().reviews += 1;
        let started = Instant::now();
        // The deadline covers the send too: an overseer whose outbound queue is full
        // must not hold the hook past it.
        let call = entry.client.request::<ReviewCall>(|_| params, deadline);
        let reply = tokio::time::timeout(deadline, call).await.unwrap_or_else(|_| {
            Err(CallError::Timeout { method: REVIEW.to_owned(), timeout_ms: deadline.as_millis() as u64 })
        });
        let latency = started.elapsed();
        let asked = match reply {
            Ok(result) => Asked::Answered(result),
            Err(CallError::Timeout { timeout_ms, .. }) => Asked::Failed(
                Fallback::Timeout,
                format!("overseer {:?} did not answer within {timeout_ms} ms (hooks.review_timeout_ms)", entry.name),
            ),
            Err(CallError::Disconnected { .. }) => Asked::Failed(
                Fallback::Disconnected,
                format!("overseer {:?} disconnected before it answered", entry.name),
            ),
            Err(CallError::Remote { error, .. }) => Asked::Failed(
                Fallback::Error,
                format!(
                    "overseer {:?} answered with an error: {}",
                    entry.name,
                    tether_core::excerpt(&error.message, 256)
                ),
            ),
        };
        let mut stats = entry.stats.lock();
        match &asked {
            Asked::Answered(result) => {
                *match result.decision {
                    Verdict::Allow => &mut stats.allowed,
                    Verdict::Deny => &mut stats.denied,
                    Verdict::Ask => &mut stats.asked,
                    Verdict::None => &mut stats.abstained,
                } += 1;
                if stats.latencies_ms.len() == LATENCIES_KEPT {
                    stats.latencies_ms.pop_front();
                }
                stats.latencies_ms.push_back(latency.as_secs_f64() * 1e3);
            }
            Asked::Failed(..) => stats.failed += 1,
        }
        (asked, latency)
    }
}

impl Entry {
    /// A hook without a tool is matched only by a tool glob that matches the empty name (`*`).
    fn matches(&self, event: &str, tool: Option<&str>) -> bool {
        self.events.iter().any(|p| p.matches(event)) && self.tools.iter().any(|p| p.matches(tool.unwrap_or("")))
    }

    fn shown(&self) -> Overseer {
        let stats = self.stats.lock();
        let mut sorted: Vec<f64> = stats.latencies_ms.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| (!sorted.is_empty()).then(|| sorted[((sorted.len() - 1) as f64 * q).round() as usize]);
        Overseer {
            overseer_id: self.id.clone(),
            name: self.name.clone(),
            events: self.events.iter().map(|p| p.as_str().to_owned()).collect(),
            tools: self.tools.iter().map(|p| p.as_str().to_owned()).collect(),
            priority: self.priority,
            registered_at: self.registered_at.clone(),
            reviews: stats.reviews,
            allowed: stats.allowed,
            denied: stats.denied,
            asked: stats.asked,
            abstained: stats.abstained,
            failed: stats.failed,
            latency_p50_ms: at(0.5),
            latency_p99_ms: at(0.99),
        }
    }
}

/// Compiles a registration's globs, each bounded as a name of its kind, and their count.
fn globs(
    raw: &[String],
    field: &'static str,
    kind: NameKind,
    limits: &OverseerLimits<'_>,
) -> Result<Vec<glob::Pattern>, HooksError> {
    if raw.is_empty() {
        return Err(invalid(field, "must name at least one glob"));
    }
    if raw.len() > limits.max_globs {
        return Err(invalid(
            field,
            format!("{} globs, more than hooks.max_overseer_globs ({})", raw.len(), limits.max_globs),
        ));
    }
    let field_name = if field == "events" { "params.events[]" } else { "params.tools[]" };
    raw.iter()
        .map(|g| {
            limits.names.check(kind, field_name, g)?;
            glob::Pattern::new(g).map_err(|e| invalid(field, format!("bad glob {g:?}: {e}")))
        })
        .collect()
}
