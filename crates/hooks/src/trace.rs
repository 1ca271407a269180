//! A hook as a span (`hook {event}`: its tool, decision and rule), under the
//! caller's `traceparent` (a managed session's process, through `tether hook`), with
//! the approval it waited on as a child: how long a person took.

use std::time::SystemTime;

use tether_proto::hooks::{Approval, IngestResult};
use tether_telemetry::{Ending, KeyValue, Lifetime, TraceParent};
use ulid::Ulid;

pub(crate) struct HookSpan(Option<(Lifetime, SystemTime)>);

impl HookSpan {
    /// A malformed `traceparent` is ignored (W3C's rule for propagation): a hook is
    /// never refused over its tracing.
    pub(crate) fn start(traceparent: Option<&str>) -> HookSpan {
        if !tether_telemetry::enabled() {
            return HookSpan(None);
        }
        let parent = traceparent.and_then(|t| TraceParent::parse(t).ok());
        let id = Ulid::new();
        HookSpan(Some((Lifetime::new(id, "hook", id, parent), SystemTime::now())))
    }

    pub(crate) fn end(self, event: &str, tool: Option<&str>, result: &IngestResult, waited: Option<&Approval>) {
        let Some((span, started_at)) = self.0 else { return };
        let decision = serde_json::to_value(result.decision).ok().and_then(|v| v.as_str().map(str::to_owned));
        let mut attributes = vec![
            KeyValue::new("tether.hook.event", event.to_owned()),
            KeyValue::new("tether.hook.decision", decision.unwrap_or_default()),
            KeyValue::new("tether.hook.event_id", result.event_id.clone()),
        ];
        if let Some(tool) = tool {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_owned()));
        }
        if let Some(rule) = &result.rule {
            attributes.push(KeyValue::new("tether.hook.rule", rule.clone()));
        }
        // Who reviewed it, how long that took, and whether the fallback decided instead.
        if let Some(review) = &result.review {
            attributes.push(KeyValue::new("tether.hook.review.overseer", review.overseer.clone().unwrap_or_default()));
            attributes.push(KeyValue::new("tether.hook.review.latency_ms", review.latency_ms));
            if let Some(fallback) = review.fallback {
                attributes.push(KeyValue::new("tether.hook.review.fallback", fallback.name()));
            }
        }
        if let Some(approval) = waited {
            approval_span(span.as_parent(), approval);
        }
        span.end(Ending { name: format!("hook {event}"), started_at, attributes, error: None });
    }
}

/// The wait on a person, from the approval's creation to now.
fn approval_span(parent: TraceParent, approval: &Approval) {
    let Some(created) = tether_core::stamp::parse(&approval.created_at) else { return };
    let Ok(id) = Ulid::from_string(&approval.approval_id) else { return };
    let state = serde_json::to_value(approval.state).ok().and_then(|v| v.as_str().map(str::to_owned));
    let attributes = vec![
        KeyValue::new("tether.approval.id", approval.approval_id.clone()),
        KeyValue::new("tether.approval.state", state.unwrap_or_default()),
    ];
    Lifetime::new(id, "approval", id, Some(parent)).end(Ending {
        name: "approval wait".into(),
        started_at: created.into(),
        attributes,
        error: None,
    });
}
