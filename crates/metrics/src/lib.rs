//! Prometheus metrics. Two kinds: what the hot path counts as it goes (requests
//! by method and outcome, their duration, journal syncs), through the observer
//! traits of `core` and `store`; and what is read from the domains when
//! `/metrics` is scraped (connections, runs, sessions, callbacks, events dropped,
//! hook decisions, the journal's files and descriptors), so that nothing on the
//! request path waits on them.

mod exposition;
mod process;

pub use exposition::{OPENMETRICS, PROMETHEUS_TEXT, prometheus_text};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: &'static str,
    outcome: Outcome,
}

/// `ok`, or the JSON-RPC error code: a label built without allocating, per request.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Outcome(i32);

impl prometheus_client::encoding::EncodeLabelValue for Outcome {
    fn encode(&self, encoder: &mut prometheus_client::encoding::LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        if self.0 == 0 { encoder.write_str("ok") } else { write!(encoder, "{}", self.0) }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Store {
    kind: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Connection {
    state: &'static str,
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Decision {
    event: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

/// A bounded set: the outcomes a tool call or an approval wait can have.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Ended {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reviewed {
    decision: &'static str,
    /// `answered`, or why the fallback decided (`timeout`, `error`, `disconnected`, `no_overseer`).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// What the domains report at scrape time.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// (state, transport, count): `authenticated`/`unauthenticated` on `tcp`/`unix`,
    /// and `pending` (still sending their HTTP head) on each.
    pub connections: Vec<(&'static str, &'static str, usize)>,
    pub runs: Vec<(String, usize)>,
    pub sessions: Vec<(String, usize)>,
    pub callbacks_pending: u64,
    pub events_dropped: u64,
    /// ((event, decision), count since start).
    pub hook_decisions: Vec<((String, String), u64)>,
    /// (`journal`/`postgres`, node id or ""), and seconds since the lease was renewed.
    pub store: (String, String),
    pub lease_age_seconds: Option<f64>,
    /// Audit lines not written, by reason (`low_space`, `write_error`), since start.
    pub audit_dropped: Vec<(&'static str, u64)>,
    /// Audit log rotations since start.
    pub audit_rotations: u64,
}

pub struct Metrics {
    /// `process_*` and `tether_build_info` at the root, the rest under `tether_`.
    registry: Registry,
    process: process::Process,
    requests: Family<Request, Counter>,
    durations: Family<Method, Histogram>,
    /// Each method's `ok` count and duration, the same series as the families', found
    /// by the method's name: the families hash their labels under a lock both runtime
    /// workers share, twice per request. At most one entry per registered method.
    answered: parking_lot::RwLock<HashMap<&'static str, (Counter, Histogram), foldhash::fast::RandomState>>,
    fsync: Histogram,
    batch: Histogram,
    connections: Family<Connection, Gauge>,
    runs: Family<State, Gauge>,
    sessions: Family<State, Gauge>,
    callbacks: Gauge,
    events_dropped: Counter,
    events_dropped_seen: AtomicU64,
    hook_decisions: Family<Decision, Counter>,
    reviews: Family<Reviewed, Counter>,
    review_seconds: Histogram,
    store: Family<Store, Gauge>,
    lease_age: Gauge<f64, AtomicU64>,
    audit_dropped: Family<Reason, Counter>,
    audit_rotations: Counter,
    journal: std::sync::OnceLock<tether_store::Journal>,
    journal_segments: Gauge,
    journal_bytes: Gauge,
    journal_live_bytes: Gauge,
    journal_open_files: Gauge,
    journal_tombstones: Gauge,
    journal_retired: Counter,
    runs_started: Counter,
    runs_ended: Family<Status, Counter>,
    tool_calls: Family<Ended, Histogram>,
    approval_waits: Family<Ended, Histogram>,
    spans_dropped: Counter,
    spans_exported: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut root = Registry::default();
        let process = process::Process::register(&mut root);
        let registry = root.sub_registry_with_prefix("tether");
        let requests = Family::<Request, Counter>::default();
        registry.register("requests", "JSON-RPC requests handled, by method and outcome", requests.clone());
        // 50 µs … ~26 s.
        let durations =
            Family::<Method, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(50e-6, 2.0, 20)));
        registry.register("request_duration_seconds", "How long handlers took, by method", durations.clone());
        let fsync = Histogram::new(exponential_buckets(50e-6, 2.0, 16));
        registry.register("journal_fsync_seconds", "fdatasync of one journal group commit", fsync.clone());
        let batch = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        registry.register("journal_batch_records", "Records made durable by one group commit", batch.clone());
        let connections = Family::<Connection, Gauge>::default();
        registry.register("connections", "Open connections, by state and transport", connections.clone());
        let runs = Family::<State, Gauge>::default();
        registry.register("runs", "Runs in the index, by status", runs.clone());
        let sessions = Family::<State, Gauge>::default();
        registry.register("sessions", "Managed sessions, by state", sessions.clone());
        let callbacks = Gauge::default();
        registry.register("callbacks_pending", "Server → client calls waiting for a reply", callbacks.clone());
        let events_dropped = Counter::default();
        registry.register("events_dropped", "Events a slow subscriber lost", events_dropped.clone());
        let store = Family::<Store, Gauge>::default();
        registry.register(
            "store_info",
            "Where runs are kept (kind) and this daemon's node id in a shared store",
            store.clone(),
        );
        let lease_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "store_lease_age_seconds",
            "Seconds since this node last renewed its lease (a shared store; 0 with the journal)",
            lease_age.clone(),
        );
        let hook_decisions = Family::<Decision, Counter>::default();
        registry.register("hook_decisions", "Hook events decided, by event and decision", hook_decisions.clone());
        let reviews = Family::<Reviewed, Counter>::default();
        registry.register(
            "hook_reviews",
            "Hooks reviewed by an overseer, by resulting decision and outcome (answered, or the fallback's cause)",
            reviews.clone(),
        );
        // 100 µs … ~52 s.
        let review_seconds = Histogram::new(exponential_buckets(100e-6, 2.0, 20));
        registry.register(
            "hook_review_seconds",
            "How long overseers took to review hooks (sent to answer, or to failure)",
            review_seconds.clone(),
        );
        let audit_dropped = Family::<Reason, Counter>::default();
        registry.register(
            "audit_dropped_lines",
            "Audit lines not written (the volume short of hooks.audit_reserve_bytes, or a failed write), by reason",
            audit_dropped.clone(),
        );
        let audit_rotations = Counter::default();
        registry.register(
            "audit_rotations",
            "Times the audit log rotated at hooks.audit_max_bytes",
            audit_rotations.clone(),
        );
        let journal_segments = Gauge::default();
        registry.register("journal_segments", "Journal segment files on disk", journal_segments.clone());
        let journal_bytes = Gauge::default();
        registry.register("journal_bytes", "Bytes in journal segment files", journal_bytes.clone());
        let journal_live_bytes = Gauge::default();
        registry.register(
            "journal_live_bytes",
            "Bytes of journal records still wanted (live runs' records, tombstones still needed)",
            journal_live_bytes.clone(),
        );
        let journal_open_files = Gauge::default();
        registry.register(
            "journal_open_files",
            "Descriptors the journal holds on segments (the writer's, and at most journal.max_open_segments readers)",
            journal_open_files.clone(),
        );
        let journal_tombstones = Gauge::default();
        registry.register(
            "journal_tombstones",
            "Tombstones the journal keeps because another segment may still hold a record of their run",
            journal_tombstones.clone(),
        );
        let journal_retired = Counter::default();
        registry.register(
            "journal_segments_retired",
            "Journal segments deleted because nothing in them was wanted any more",
            journal_retired.clone(),
        );
        let runs_started = Counter::default();
        registry.register("runs_started", "Runs started (runs.start) since the daemon started", runs_started.clone());
        let runs_ended = Family::<Status, Counter>::default();
        registry.register("runs_ended", "Runs ended, by final status", runs_ended.clone());
        // 1 ms … ~4.6 h: a tool call may be a build, an approval a person's lunch.
        let tool_calls =
            Family::<Ended, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(1e-3, 2.0, 24)));
        registry.register(
            "tool_call_duration_seconds",
            "One action's tools.execute, all attempts, by outcome (succeeded, failed, rejected)",
            tool_calls.clone(),
        );
        let approval_waits =
            Family::<Ended, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.1, 2.0, 18)));
        registry.register(
            "approval_wait_seconds",
            "How long an approval waited for a person, by outcome",
            approval_waits.clone(),
        );
        let spans_dropped = Counter::default();
        registry.register(
            "telemetry_spans_dropped",
            "Spans not exported: the export queue was full or the collector failed",
            spans_dropped.clone(),
        );
        let spans_exported = Counter::default();
        registry.register("telemetry_spans_exported", "Spans an OTLP collector accepted", spans_exported.clone());
        Metrics {
            runs_started,
            runs_ended,
            tool_calls,
            approval_waits,
            spans_dropped,
            spans_exported,
            journal: std::sync::OnceLock::new(),
            journal_segments,
            journal_bytes,
            journal_live_bytes,
            journal_open_files,
            journal_tombstones,
            journal_retired,
            audit_dropped,
            audit_rotations,
            registry: root,
            process,
            requests,
            durations,
            answered: Default::default(),
            fsync,
            batch,
            connections,
            runs,
            sessions,
            callbacks,
            events_dropped,
            events_dropped_seen: AtomicU64::new(0),
            hook_decisions,
            reviews,
            review_seconds,
            store,
            lease_age,
        }
    }

    /// Reads the journal's files and descriptors at every scrape (set once; a
    /// daemon on PostgreSQL has none, and those figures stay 0).
    pub fn watch_journal(&self, journal: tether_store::Journal) {
        let _ = self.journal.set(journal);
    }

    /// The text exposition, with the domains' figures as of now.
    /// The OpenMetrics text (see `prometheus_text` for the older format).
    pub fn render(&self, snapshot: &Snapshot) -> String {
        self.process.sample();
        if let Some(journal) = self.journal.get() {
            let stats = journal.stats();
            self.journal_segments.set(stats.segments as i64);
            self.journal_bytes.set(stats.bytes as i64);
            self.journal_live_bytes.set(stats.live_bytes as i64);
            self.journal_open_files.set(stats.open_files as i64);
            self.journal_tombstones.set(stats.tombstones as i64);
            self.journal_retired.inc_by(stats.retired.saturating_sub(self.journal_retired.get()));
        }
        for &(state, transport, count) in &snapshot.connections {
            self.connections.get_or_create(&Connection { state, transport }).set(count as i64);
        }
        set_all(&self.runs, &snapshot.runs);
        set_all(&self.sessions, &snapshot.sessions);
        self.callbacks.set(snapshot.callbacks_pending as i64);
        let seen = self.events_dropped_seen.swap(snapshot.events_dropped, Ordering::Relaxed);
        self.events_dropped.inc_by(snapshot.events_dropped.saturating_sub(seen));
        for ((event, decision), count) in &snapshot.hook_decisions {
            let counter =
                self.hook_decisions.get_or_create(&Decision { event: event.clone(), decision: decision.clone() });
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        self.store.clear();
        let (kind, node) = &snapshot.store;
        self.store.get_or_create(&Store { kind: kind.clone(), node: node.clone() }).set(1);
        self.lease_age.set(snapshot.lease_age_seconds.unwrap_or(0.0));
        for &(reason, count) in &snapshot.audit_dropped {
            let counter = self.audit_dropped.get_or_create(&Reason { reason });
            counter.inc_by(count.saturating_sub(counter.get()));
        }
        self.audit_rotations.inc_by(snapshot.audit_rotations.saturating_sub(self.audit_rotations.get()));
        self.spans_dropped.inc_by(tether_telemetry::dropped_spans().saturating_sub(self.spans_dropped.get()));
        self.spans_exported.inc_by(tether_telemetry::exported_spans().saturating_sub(self.spans_exported.get()));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

/// Sets every gauge of a family, zeroing the labels that are gone.
fn set_all(family: &Family<State, Gauge>, values: &[(String, usize)]) {
    family.clear();
    for (state, count) in values {
        family.get_or_create(&State { state: state.clone() }).set(*count as i64);
    }
}

impl Metrics {
    /// One review ended: `outcome` is `answered` or the fallback's cause.
    pub fn reviewed(&self, decision: &'static str, outcome: &'static str, latency: Duration) {
        self.reviews.get_or_create(&Reviewed { decision, outcome }).inc();
        if outcome != "no_overseer" {
            self.review_seconds.observe(latency.as_secs_f64());
        }
    }
}

impl tether_core::Observer for Metrics {
    fn request(&self, method: &'static str, code: i32, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if code == 0
            && let Some((ok, duration)) = self.answered.read().get(method)
        {
            ok.inc();
            duration.observe(seconds);
            return;
        }
        let count = self.requests.get_or_create(&Request { method, outcome: Outcome(code) }).clone();
        let duration = self.durations.get_or_create(&Method { method }).clone();
        count.inc();
        duration.observe(seconds);
        if code == 0 {
            self.answered.write().insert(method, (count, duration));
        }
    }
}

impl tether_telemetry::Observe for Metrics {
    fn run_started(&self) {
        self.runs_started.inc();
    }

    fn run_ended(&self, status: &str) {
        self.runs_ended.get_or_create(&Status { status: status.to_owned() }).inc();
    }

    fn tool_call(&self, outcome: &'static str, elapsed: Duration) {
        self.tool_calls.get_or_create(&Ended { outcome }).observe(elapsed.as_secs_f64());
    }

    fn approval_waited(&self, outcome: &'static str, elapsed: Duration) {
        self.approval_waits.get_or_create(&Ended { outcome }).observe(elapsed.as_secs_f64());
    }
}

impl tether_store::JournalObserver for Metrics {
    fn synced(&self, records: usize, fsync: Duration) {
        self.fsync.observe(fsync.as_secs_f64());
        self.batch.observe(records as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_core::Observer;

    #[test]
    fn requests_and_scraped_figures_are_rendered() {
        let metrics = Metrics::new();
        metrics.request("server.ping", 0, Duration::from_micros(80));
        metrics.request("runs.start", -32602, Duration::from_millis(2));
        let snapshot = Snapshot {
            connections: vec![("authenticated", "tcp", 3)],
            runs: vec![("completed".into(), 2)],
            events_dropped: 5,
            hook_decisions: vec![(("PreToolUse".into(), "deny".into()), 4)],
            ..Snapshot::default()
        };
        let text = metrics.render(&snapshot);
        for line in [
            "tether_requests_total{method=\"server.ping\",outcome=\"ok\"} 1",
            "tether_requests_total{method=\"runs.start\",outcome=\"-32602\"} 1",
            "tether_connections{state=\"authenticated\",transport=\"tcp\"} 3",
            "tether_runs{state=\"completed\"} 2",
            "tether_events_dropped_total 5",
            "tether_hook_decisions_total{event=\"PreToolUse\",decision=\"deny\"} 4",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        let again = metrics.render(&snapshot);
        assert!(again.contains("tether_events_dropped_total 5"), "a counter never counts twice");
        assert!(again.contains("tether_hook_decisions_total{event=\"PreToolUse\",decision=\"deny\"} 4"));
    }

    #[test]
    fn a_methods_answers_count_in_its_series_however_they_are_found() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.request("server.ping", 0, Duration::from_micros(80));
        }
        metrics.request("server.ping", -32603, Duration::from_micros(80));
        let text = metrics.render(&Snapshot::default());
        for line in [
            "tether_requests_total{method=\"server.ping\",outcome=\"ok\"} 3",
            "tether_requests_total{method=\"server.ping\",outcome=\"-32603\"} 1",
            "tether_request_duration_seconds_count{method=\"server.ping\"} 4",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
