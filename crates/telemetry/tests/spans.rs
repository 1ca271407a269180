//! The spans of a run, in memory: one trace, the root written last with ids every
//! process derives alike, tool spans under it, errors marked. (The OTLP wire is
//! tested end to end in the workspace's `tests/telemetry.rs`.)

use opentelemetry::trace::{SpanId, Status, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use tether_telemetry::{Ids, RunEnd, RunTrace, TraceParent};
use ulid::Ulid;

#[test]
fn a_run_is_one_trace_under_ids_derived_from_its_id() {
    let exporter = InMemorySpanExporter::default();
    let provider =
        SdkTracerProvider::builder().with_id_generator(Ids::default()).with_simple_exporter(exporter.clone()).build();
    tether_telemetry::install(provider.tracer("tether"), true, 1.0);

    // A run of its own trace, as after a restart: a second RunTrace from the same id.
    let run = Ulid::new();
    let before = RunTrace::new(run, None, None);
    let tool = before.tool("echo", &json!({"text": "hi"}));
    let traceparent = TraceParent::parse(&tool.traceparent().unwrap()).unwrap();
    drop(tool.journal_append());
    tool.finish(|| "r:p:a1:1".into(), 1, None, Some(&json!({"ok": true})));
    let after = RunTrace::new(run, None, None);
    after.tool("fail", &json!({})).finish(|| "r:p:a2:1".into(), 2, Some(("timeout", "no reply")), None);
    after.end(
        run,
        RunEnd { agent: "a", status: "completed", failed: false, started_at: std::time::SystemTime::now(), turns: 2 },
    );

    let spans = exporter.get_finished_spans().unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["journal append", "execute_tool echo", "execute_tool fail", "invoke_agent a"]);
    let trace = TraceId::from_bytes(run.to_bytes());
    assert!(spans.iter().all(|s| s.span_context.trace_id() == trace), "one trace, the run's id");
    let root = &spans[3];
    assert_eq!(root.parent_span_id, SpanId::INVALID, "the run's span is the root");
    assert_eq!(spans[1].parent_span_id, root.span_context.span_id());
    assert_eq!(spans[2].parent_span_id, root.span_context.span_id(), "after a restart: the same parent");
    assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
    assert_eq!(traceparent.span_id, spans[1].span_context.span_id(), "tools.execute carries the tool span");
    assert!(matches!(spans[2].status, Status::Error { .. }));
    let attr = |i: usize, key: &str| {
        spans[i].attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
    };
    assert_eq!(attr(2, "error.type").as_deref(), Some("timeout"));
    assert_eq!(attr(1, "gen_ai.tool.call.id").as_deref(), Some("r:p:a1:1"));
    assert_eq!(attr(1, "gen_ai.tool.call.arguments").as_deref(), Some(r#"{"text":"hi"}"#));
    assert_eq!(attr(3, "gen_ai.conversation.id"), Some(run.to_string()));

    // A run that joined a caller's trace: its root is the caller's child.
    exporter.reset();
    let caller = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let joined = RunTrace::new(Ulid::new(), Some(caller), None);
    joined.tool("echo", &json!({})).finish(|| "c".into(), 1, None, None);
    joined.end(
        Ulid::new(),
        RunEnd { agent: "b", status: "incomplete", failed: true, started_at: std::time::SystemTime::now(), turns: 1 },
    );
    let spans = exporter.get_finished_spans().unwrap();
    assert!(spans.iter().all(|s| s.span_context.trace_id() == caller.trace_id));
    assert_eq!(spans[1].parent_span_id, caller.span_id);
    assert!(matches!(spans[1].status, Status::Error { .. }));

    // A caller that did not sample: nothing written.
    exporter.reset();
    let unsampled = TraceParent { sampled: false, ..caller };
    let quiet = RunTrace::new(Ulid::new(), Some(unsampled), None);
    assert!(quiet.tool("echo", &json!({})).traceparent().is_none());
    assert!(exporter.get_finished_spans().unwrap().is_empty());
}
