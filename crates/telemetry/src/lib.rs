//! OpenTelemetry for tether: one trace per run however many processes write it,
//! spans named as the GenAI conventions say, W3C `traceparent` in and out, and an
//! export queue that drops (and counts) rather than slow a request.
//!
//! The domains call into this crate only; the OTLP exporters are the binary's
//! (`src/telemetry.rs`). Until `install` is called every span is a no-op that
//! allocates nothing.

mod export;
pub mod ids;
mod spans;

use std::sync::OnceLock;
use std::time::Duration;

pub use export::{Bounded, Counting, dropped_spans, exported_spans};
pub use ids::{Ids, TraceParent};
pub use opentelemetry::KeyValue;
pub use spans::{Ending, Lifetime, RunEnd, RunTrace, ToolSpan};

/// What the daemon exports with.
struct Installed {
    tracer: opentelemetry_sdk::trace::SdkTracer,
    /// Tool arguments and results go into spans only when the operator says so.
    record_content: bool,
    /// The share of traces kept that have no caller deciding for them.
    ratio: f64,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

fn installed() -> Option<&'static Installed> {
    INSTALLED.get()
}

/// Turns span writing on, once per process. The provider must use `Ids` as its id
/// generator (spans that stand for a run or a session get ids of our choosing).
pub fn install(tracer: opentelemetry_sdk::trace::SdkTracer, record_content: bool, ratio: f64) {
    let _ = INSTALLED.set(Installed { tracer, record_content, ratio });
}

/// Whether spans are being written at all.
pub fn enabled() -> bool {
    INSTALLED.get().is_some()
}

/// What the domains report for `/metrics` as it happens (the rest is read at scrape).
pub trait Observe: Send + Sync + 'static {
    fn run_started(&self) {}
    fn run_ended(&self, _status: &str) {}
    /// One action's call, all attempts: `succeeded`, `failed` or `rejected`.
    fn tool_call(&self, _outcome: &'static str, _elapsed: Duration) {}
    /// A hook or a budget waited on a person: `approved`, `denied`, `expired`, `abandoned`.
    fn approval_waited(&self, _outcome: &'static str, _elapsed: Duration) {}
}

/// Observes nothing: the default until the assembly sets the metrics.
pub struct Nobody;
impl Observe for Nobody {}
