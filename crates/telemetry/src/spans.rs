//! The spans tether writes, named and attributed as OpenTelemetry's GenAI
//! conventions say (`invoke_agent {agent}`, `execute_tool {tool}`).
//!
//! A run's root span is written once, when the run ends, with the run's recorded
//! start: whichever process ends the run (after a restart, on another node) writes
//! it, under ids derived from the run id, so the spans written before and after
//! name the same parent.

use std::time::SystemTime;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, Tracer,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;
use serde_json::Value;
use ulid::Ulid;

use crate::ids::{self, TraceParent};

/// The trace a run's spans belong to: fixed at `runs.start` (the caller's trace when
/// it sent a `traceparent`, else the run's own) and rebuilt from its `started` record.
/// The run's own span (`invoke_agent`) is a `Lifetime` whose id derives from the run id.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTrace(Lifetime);

/// How a run ended, for its root span.
pub struct RunEnd<'a> {
    pub agent: &'a str,
    pub status: &'a str,
    /// The run did not end as its owner meant it to (incomplete, cancelled, ...).
    pub failed: bool,
    pub started_at: SystemTime,
    pub turns: u32,
}

impl RunTrace {
    pub fn new(run: Ulid, caller: Option<TraceParent>, tracestate: Option<String>) -> RunTrace {
        RunTrace(Lifetime::new(run, "run", run, caller).with_tracestate(tracestate))
    }

    /// Starts `execute_tool {tool}` under the run; a no-op when export is off or the
    /// run's trace is not sampled.
    pub fn tool(&self, tool: &str, arguments: &Value) -> ToolSpan {
        let Some(installed) = crate::installed().filter(|_| self.0.sampled()) else { return ToolSpan(None) };
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", "execute_tool"),
            KeyValue::new("gen_ai.tool.name", tool.to_owned()),
            KeyValue::new("gen_ai.tool.type", "function"),
        ];
        if installed.record_content {
            attributes.push(KeyValue::new("gen_ai.tool.call.arguments", arguments.to_string()));
        }
        let builder = installed
            .tracer
            .span_builder(format!("execute_tool {tool}"))
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes);
        ToolSpan(Some(Box::new(installed.tracer.build_with_context(builder, &self.0.as_context()))))
    }

    /// Writes the run's `invoke_agent {agent}` span, from its recorded start to now.
    pub fn end(&self, run: Ulid, end: RunEnd<'_>) {
        let attributes = vec![
            KeyValue::new("gen_ai.operation.name", "invoke_agent"),
            KeyValue::new("gen_ai.agent.name", end.agent.to_owned()),
            KeyValue::new("gen_ai.agent.id", end.agent.to_owned()),
            KeyValue::new("gen_ai.conversation.id", run.to_string()),
            KeyValue::new("tether.run.id", run.to_string()),
            KeyValue::new("tether.run.status", end.status.to_owned()),
            KeyValue::new("tether.run.turns", i64::from(end.turns)),
        ];
        let error = end.failed.then(|| format!("run ended {}", end.status));
        self.0.end(Ending {
            name: format!("invoke_agent {}", end.agent),
            started_at: end.started_at,
            attributes,
            error: error.as_deref(),
        });
    }
}

/// An `execute_tool` span in flight (ended when dropped, if not finished); the
/// default writes nothing. Boxed: a proposal's future holds it across every await,
/// and an SDK span is 280 bytes that a turn would copy with its future.
#[derive(Default)]
pub struct ToolSpan(Option<Box<Span>>);

impl ToolSpan {
    /// For the `traceparent` of a `tools.execute`, so the harness continues the trace.
    pub fn traceparent(&self) -> Option<String> {
        let span = self.0.as_ref()?;
        let context = span.span_context();
        Some(TraceParent::format(context.trace_id(), context.span_id(), context.is_sampled()))
    }

    /// A child span around the journal append of this call's turn.
    pub fn journal_append(&self) -> Option<Box<Span>> {
        let span = self.0.as_ref()?;
        let installed = crate::installed()?;
        let parent = Context::new().with_remote_span_context(span.span_context().clone());
        let builder = installed.tracer.span_builder("journal append").with_kind(SpanKind::Internal);
        Some(Box::new(installed.tracer.build_with_context(builder, &parent)))
    }

    /// Ends the span with the call's outcome: `error_type` (and the message) on failure.
    /// `call_id` is built only for a span that records (not on every call with export off).
    pub fn finish(
        mut self,
        call_id: impl FnOnce() -> String,
        attempts: u32,
        error: Option<(&str, &str)>,
        output: Option<&Value>,
    ) {
        let Some(span) = self.0.as_mut() else { return };
        span.set_attribute(KeyValue::new("gen_ai.tool.call.id", call_id()));
        span.set_attribute(KeyValue::new("tether.tool.attempts", i64::from(attempts)));
        if let (Some(output), Some(installed)) = (output, crate::installed())
            && installed.record_content
        {
            span.set_attribute(KeyValue::new("gen_ai.tool.call.result", output.to_string()));
        }
        match error {
            Some((kind, message)) => {
                span.set_attribute(KeyValue::new("error.type", kind.to_owned()));
                span.set_status(Status::error(message.to_owned()));
            }
            None => span.set_status(Status::Ok),
        }
        span.end();
    }
}

/// A span that stands for something with a lifetime of its own (a session's
/// process, a hook and its wait): its ids are known when it starts, so what it starts
/// can be handed its `traceparent`, and it is written when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetime {
    trace_id: TraceId,
    span_id: SpanId,
    parent: Option<TraceParent>,
    /// The caller's W3C `tracestate`, passed on with its `traceparent`.
    tracestate: Option<String>,
}

/// How it ended.
pub struct Ending<'a> {
    pub name: String,
    pub started_at: SystemTime,
    pub attributes: Vec<KeyValue>,
    pub error: Option<&'a str>,
}

impl Lifetime {
    /// `id`'s own span in the trace of `trace` (a session's process in its session's
    /// trace), or under `parent` when the caller sent one.
    pub fn new(trace: Ulid, kind: &str, id: Ulid, parent: Option<TraceParent>) -> Lifetime {
        let trace_id = parent.map_or_else(|| ids::trace_id_of(trace), |p| p.trace_id);
        Lifetime { trace_id, span_id: ids::span_id_of(kind, id), parent, tracestate: None }
    }

    /// Keeps a caller's `tracestate` (dropped past `MAX_TRACESTATE`).
    pub fn with_tracestate(self, tracestate: Option<String>) -> Lifetime {
        Lifetime { tracestate: tracestate.filter(|s| s.len() <= ids::MAX_TRACESTATE), ..self }
    }

    /// This span as the parent of spans written while it lasts.
    fn as_context(&self) -> Context {
        let state = self.tracestate.as_deref().and_then(|s| s.parse().ok()).unwrap_or_default();
        let context = SpanContext::new(self.trace_id, self.span_id, TraceFlags::SAMPLED, true, state);
        Context::new().with_remote_span_context(context)
    }

    fn sampled(&self) -> bool {
        match self.parent {
            Some(parent) => parent.sampled,
            None => crate::installed().is_some_and(|t| ids::sampled_at(self.trace_id, t.ratio)),
        }
    }

    /// For what it starts (`TRACEPARENT` of a session's process); `None` when not traced.
    pub fn traceparent(&self) -> Option<String> {
        (crate::enabled() && self.sampled()).then(|| TraceParent::format(self.trace_id, self.span_id, true))
    }

    /// As a parent of spans written while it lasts.
    pub fn as_parent(&self) -> TraceParent {
        TraceParent { trace_id: self.trace_id, span_id: self.span_id, sampled: self.sampled() }
    }

    pub fn end(&self, ending: Ending<'_>) {
        let Some(installed) = crate::installed().filter(|_| self.sampled()) else { return };
        let builder = installed
            .tracer
            .span_builder(ending.name)
            .with_kind(SpanKind::Internal)
            .with_start_time(ending.started_at)
            .with_attributes(ending.attributes);
        let context = match self.parent {
            Some(parent) => Context::new().with_remote_span_context(parent.remote(self.tracestate.as_deref())),
            None => Context::new(),
        };
        let trace = self.parent.is_none().then_some(self.trace_id);
        let mut span = ids::with_ids(trace, self.span_id, || installed.tracer.build_with_context(builder, &context));
        match ending.error {
            Some(message) => span.set_status(Status::error(message.to_owned())),
            None => span.set_status(Status::Ok),
        }
        span.end();
    }
}
