//! OpenTelemetry export, end to end: the real daemon exports to a real OTLP
//! collector in this test (OpenTelemetry's own protobuf definitions, over gRPC and
//! HTTP/protobuf). A run is one trace rooted at `invoke_agent`, its actions
//! `execute_tool` children; a caller's `traceparent` is joined and each
//! `tools.execute` carries one; a kill -9 and a reattach stay in the same trace; a
//! dead collector costs dropped spans (counted), not the run.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use common::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use prost::Message;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every span received, with its resource's `service.name`.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, Span)>>>);

impl Spans {
    fn take(&self, request: ExportTraceServiceRequest) {
        let mut spans = self.0.lock().unwrap();
        for resource in request.resource_spans {
            let service = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
    }

    fn named(&self, prefix: &str) -> Vec<Span> {
        let spans = self.0.lock().unwrap();
        spans.iter().filter(|(_, s)| s.name.starts_with(prefix)).map(|(_, s)| s.clone()).collect()
    }

    fn services(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|(service, _)| service.clone()).collect()
    }
}

fn text(value: &any_value::Value) -> Option<String> {
    match value {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| text(kv.value.as_ref()?.value.as_ref()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Collector(Spans);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.take(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC collector on loopback.
async fn grpc_collector() -> (SocketAddr, Spans) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let spans = Spans::default();
    let service = TraceServiceServer::new(Collector(spans.clone()));
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    (addr, spans)
}

/// An OTLP/HTTP collector on loopback: `POST /v1/traces`, a protobuf body.
async fn http_collector() -> (SocketAddr, Spans) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let spans = Spans::default();
    let taken = spans.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(serve_http(stream, taken.clone()));
        }
    });
    (addr, spans)
}

async fn serve_http(mut stream: tokio::net::TcpStream, spans: Spans) {
    let mut buffer = Vec::new();
    loop {
        // One request (keep-alive: the exporter reuses its connection).
        let (head, length, path) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            if let Ok(httparse::Status::Complete(head)) = request.parse(&buffer) {
                let length = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                    .unwrap_or(0);
                break (head, length, request.path.unwrap_or_default().to_owned());
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        while buffer.len() < head + length {
            let mut chunk = [0u8; 65536];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buffer.drain(..head + length).skip(head).collect();
        let status = if path == "/v1/traces" {
            spans.take(ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf body"));
            "200 OK"
        } else {
            "404 Not Found"
        };
        let response =
            format!("HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

const CAPS: [&str; 2] = ["runs.resume.v1", "runs.reattach.v1"];

/// A harness (the operator, as agent `harness`) with tools `echo` and `fail`.
async fn harness(daemon: &Daemon) -> Ws {
    let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
    let auth = json!({"jsonrpc":"2.0","id":"auth","method":"session.auth",
        "params":{"token":daemon.token(),"agent_id":"harness"}});
    assert_eq!(rpc(&mut ws, auth).await["result"]["ok"], true);
    let hello = json!({"jsonrpc":"2.0","id":"hs","method":"server.handshake",
        "params":{"protocol_version":3,"optional_capabilities":CAPS}});
    rpc(&mut ws, hello).await;
    let tools =
        json!({"jsonrpc":"2.0","id":"tools","method":"tools.register","params":[{"name":"echo"},{"name":"fail"}]});
    rpc(&mut ws, tools).await;
    ws
}

/// The operator, unbound to any agent.
async fn operator(daemon: &Daemon) -> Ws {
    let mut ws = tokio_tungstenite::connect_async(&daemon.url).await.unwrap().0;
    let auth = json!({"jsonrpc":"2.0","id":"auth","method":"session.auth","params":{"token":daemon.token()}});
    assert_eq!(rpc(&mut ws, auth).await["result"]["ok"], true, "the operator");
    rpc(&mut ws, json!({"jsonrpc":"2.0","id":"hs","method":"server.handshake","params":{"protocol_version":3}})).await;
    ws
}

async fn call(ws: &mut Ws, method: &str, params: Value) -> Value {
    rpc(ws, json!({"jsonrpc":"2.0","id":method,"method":method,"params":params})).await
}

/// Submits `actions` (tool names); `echo` answers its parameters, `fail` an error.
/// Returns the reply and each `tools.execute`'s params.
async fn submit(ws: &mut Ws, tools: &[&str]) -> (Value, Vec<Value>) {
    let actions: Vec<Value> = tools
        .iter()
        .enumerate()
        .map(|(n, tool)| {
            json!({"id": format!("{tool}{n}"), "type": "tool_call", "tool": tool, "parameters": {"n": n},
                "failure_behavior": "skip"})
        })
        .collect();
    let proposal = json!({"actions": actions});
    send(ws, json!({"jsonrpc":"2.0","id":"submit","method":"proposal.submit","params":{"proposal":proposal}})).await;
    let mut calls = Vec::new();
    loop {
        let message = recv(ws).await;
        if message["method"] == "tools.execute" {
            let reply = match message["params"]["tool"].as_str() {
                Some("fail") => {
                    json!({"jsonrpc":"2.0","id":message["id"],"error":{"code":-32000,"message":"it broke"}})
                }
                _ => json!({"jsonrpc":"2.0","id":message["id"],"result":message["params"]["parameters"]}),
            };
            send(ws, reply).await;
            calls.push(message["params"].clone());
        } else if message["id"] == "submit" {
            return (message, calls);
        }
    }
}

async fn spans_arrive(spans: &Spans, prefix: &str, count: usize) -> Vec<Span> {
    wait_until(&format!("{count} {prefix} span(s) at the collector"), async || spans.named(prefix).len() >= count)
        .await;
    spans.named(prefix)
}

/// One run of three actions, the second failing, and the trace it makes.
async fn a_run_is_one_trace(protocol: &str, collector: SocketAddr, spans: Spans) {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{collector}");
    let daemon = Daemon::spawn_env(
        dir.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_SERVICE_NAME", "tether-under-test"),
        ],
    );
    let mut ws = harness(&daemon).await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{caller_trace}-{caller_span}-01");
    let started = call(&mut ws, "runs.start", json!({"intent": "three actions", "traceparent": traceparent})).await;
    let run_id = started["result"]["run_id"].as_str().expect("a run").to_owned();
    let (reply, calls) = submit(&mut ws, &["echo", "fail", "echo"]).await;
    assert_eq!(reply["result"]["results"][1]["status"], "failed", "{reply}");
    assert_eq!(calls.len(), 3, "the failure is skipped past");
    let done = call(&mut ws, "runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await;
    assert!(done.get("result").is_some(), "{done}");

    // Each tools.execute carried its own span's traceparent, in the caller's trace.
    let parents: Vec<String> =
        calls.iter().map(|c| c["traceparent"].as_str().expect("a traceparent").to_owned()).collect();
    assert!(parents.iter().all(|p| p.starts_with(&format!("00-{caller_trace}-")) && p.ends_with("-01")), "{parents:?}");

    let root = spans_arrive(&spans, "invoke_agent", 1).await.remove(0);
    let tools = spans_arrive(&spans, "execute_tool", 3).await;
    assert_eq!(root.name, "invoke_agent harness");
    assert_eq!(hex(&root.trace_id), caller_trace, "the run joined the caller's trace");
    assert_eq!(hex(&root.parent_span_id), caller_span, "under the caller's span");
    assert_eq!(attr(&root, "gen_ai.operation.name").as_deref(), Some("invoke_agent"));
    assert_eq!(attr(&root, "gen_ai.agent.name").as_deref(), Some("harness"));
    assert_eq!(attr(&root, "gen_ai.conversation.id").as_deref(), Some(run_id.as_str()));
    assert_eq!(attr(&root, "tether.run.id").as_deref(), Some(run_id.as_str()));
    assert_eq!(attr(&root, "tether.run.status").as_deref(), Some("completed"));
    let mut tools = tools;
    tools.sort_by_key(|s| s.start_time_unix_nano);
    for (n, span) in tools.iter().enumerate() {
        assert_eq!(span.trace_id, root.trace_id);
        assert_eq!(span.parent_span_id, root.span_id, "{} is the run's child", span.name);
        assert_eq!(attr(span, "gen_ai.operation.name").as_deref(), Some("execute_tool"));
        let call_id = calls[n]["call_id"].as_str().unwrap();
        assert_eq!(attr(span, "gen_ai.tool.call.id").as_deref(), Some(call_id));
        assert_eq!(
            parents[n],
            format!("00-{caller_trace}-{}-01", hex(&span.span_id)),
            "the harness continues this span"
        );
        assert!(attr(span, "gen_ai.tool.call.arguments").is_none(), "content only when record_content is on");
    }
    assert_eq!(tools[1].name, "execute_tool fail");
    assert_eq!(tools[1].status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    assert_eq!(attr(&tools[1], "error.type").as_deref(), Some("tool_error"));
    assert_ne!(tools[0].status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32));
    let appends = spans_arrive(&spans, "journal append", 3).await;
    assert!(appends.iter().all(|a| tools.iter().any(|t| t.span_id == a.parent_span_id)), "appends under their calls");
    assert!(spans.services().iter().all(|s| s == "tether-under-test"), "OTEL_SERVICE_NAME names the service");
}

#[tokio::test]
async fn a_run_is_one_trace_over_otlp_http_protobuf() {
    let (collector, spans) = http_collector().await;
    a_run_is_one_trace("http/protobuf", collector, spans).await;
}

#[tokio::test]
async fn a_run_is_one_trace_over_otlp_grpc() {
    let (collector, spans) = grpc_collector().await;
    a_run_is_one_trace("grpc", collector, spans).await;
}

#[tokio::test]
async fn spans_after_a_kill_9_and_a_reattach_land_in_the_runs_trace() {
    let (collector, spans) = grpc_collector().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tether.toml");
    std::fs::write(
        &config,
        format!(
            "[telemetry]\notlp_endpoint = \"http://{collector}\"\notlp_protocol = \"grpc\"\nrecord_content = true\n"
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let mut daemon = Daemon::spawn(dir.path(), &args);
    let mut ws = harness(&daemon).await;
    let started = call(&mut ws, "runs.start", json!({"intent": "outlives a crash"})).await;
    let run_id = started["result"]["run_id"].as_str().unwrap().to_owned();
    let token = started["result"]["resume_token"].as_str().expect("a resume token").to_owned();
    let (_, before) = submit(&mut ws, &["echo"]).await;
    // Exported before the crash (the batch goes out within half a second).
    let first = spans_arrive(&spans, "execute_tool", 1).await.remove(0);
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();

    let daemon = Daemon::spawn(dir.path(), &args);
    let mut ws = harness(&daemon).await;
    let resumed = call(&mut ws, "runs.resume", json!({"run_id": run_id, "resume_token": token})).await;
    assert_eq!(resumed["result"]["status"], "in_progress", "{resumed}");
    let (_, after) = submit(&mut ws, &["echo"]).await;
    call(&mut ws, "runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await;

    let root = spans_arrive(&spans, "invoke_agent", 1).await.remove(0);
    let tools = spans_arrive(&spans, "execute_tool", 2).await;
    let run = ulid::Ulid::from_string(&run_id).unwrap();
    assert_eq!(hex(&root.trace_id), hex(&run.to_bytes()), "without a caller, the run's trace id is its id");
    assert!(root.parent_span_id.is_empty(), "the run's span is the root");
    for span in &tools {
        assert_eq!(span.trace_id, root.trace_id, "before and after the crash: one trace");
        assert_eq!(span.parent_span_id, root.span_id, "both name the root the second process wrote");
    }
    assert_ne!(tools[0].span_id, tools[1].span_id);
    assert_eq!(first.span_id, tools[0].span_id);
    let trace = hex(&run.to_bytes());
    for call in before.iter().chain(&after) {
        assert!(call["traceparent"].as_str().unwrap().starts_with(&format!("00-{trace}-")), "{call}");
    }
    assert!(root.start_time_unix_nano <= first.start_time_unix_nano, "the root spans the whole run, crash included");
    assert_eq!(attr(&tools[1], "gen_ai.tool.call.arguments").as_deref(), Some(r#"{"n":0}"#), "record_content");
    assert_eq!(attr(&tools[1], "gen_ai.tool.call.result").as_deref(), Some(r#"{"n":0}"#));
}

#[tokio::test]
async fn a_dead_collector_costs_dropped_spans_not_the_run_and_the_dashboards_metrics_are_served() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{closed}");
    let daemon = Daemon::spawn_env(dir.path(), &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let mut ws = harness(&daemon).await;
    let bad = call(&mut ws, "runs.start", json!({"intent": "x", "traceparent": "00-nope"})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains("traceparent"), "{bad}");
    // Hostile sizes are refused where they enter, naming the field and the bound.
    let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let huge = format!("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-{}", "x".repeat(100_000));
    let refused = call(&mut ws, "runs.start", json!({"intent": "x", "traceparent": huge})).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("exceeds the 256"), "{refused}");
    let state = "k=".to_owned() + &"v".repeat(600);
    let refused = call(&mut ws, "runs.start", json!({"intent": "x", "traceparent": good, "tracestate": state})).await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("tracestate"), "{refused}");
    let started = call(&mut ws, "runs.start", json!({"intent": "into the void"})).await;
    let run_id = started["result"]["run_id"].as_str().unwrap().to_owned();
    let (reply, _) = submit(&mut ws, &["echo", "echo"]).await;
    assert_eq!(reply["result"]["results"][1]["status"], "succeeded", "{reply}");
    call(&mut ws, "runs.complete", json!({"run_id": run_id, "outcome": {"status": "success"}})).await;
    let mut operator = operator(&daemon).await;
    let asked = call(&mut operator, "approvals.request", json!({"question": "may I?", "wait_ms": 1})).await;
    let approval_id = asked["result"]["approval_id"].as_str().unwrap_or_else(|| panic!("{asked}")).to_owned();
    let resolved =
        call(&mut operator, "approvals.resolve", json!({"approval_id": approval_id, "decision": "allow"})).await;
    assert_eq!(resolved["result"]["state"], "allowed", "{resolved}");
    let hook = json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}});
    assert!(call(&mut operator, "hooks.ingest", hook).await.get("result").is_some());
    let token = daemon.token();
    wait_until("the lost spans are counted", async || {
        let text = metrics_text(daemon.addr, &token).await;
        metric(&text, "tether_telemetry_spans_dropped_total") >= 3.0
    })
    .await;
    let text = metrics_text(daemon.addr, &token).await;
    assert_eq!(metric(&text, "tether_telemetry_spans_exported_total"), 0.0);
    assert_eq!(metric(&text, "tether_runs_started_total"), 1.0);
    assert_eq!(metric(&text, "tether_runs_ended_total{status=\"completed\"}"), 1.0);
    assert_eq!(metric(&text, "tether_tool_call_duration_seconds_count{outcome=\"succeeded\"}"), 2.0);
    assert_eq!(metric(&text, "tether_approval_wait_seconds_count{outcome=\"allowed\"}"), 1.0);

    // The Grafana dashboard in docs/ reads only what /metrics serves.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap()))
        .collect();
    assert!(exprs.len() >= 14, "{exprs:?}");
    for expr in exprs {
        for name in metric_names(expr) {
            let served =
                text.lines().any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")));
            assert!(served, "the dashboard reads {name} ({expr}), which /metrics does not serve:\n{text}");
        }
    }
}

async fn metrics_text(addr: SocketAddr, token: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_sessions_process_and_its_hooks_are_one_trace() {
    let (collector, spans) = http_collector().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{collector}");
    let daemon = Daemon::spawn_env(dir.path(), &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let mut ws = operator(&daemon).await;
    let cwd = tempfile::tempdir().unwrap();
    // The agent records its TRACEPARENT, asks tether about a tool call the way Claude
    // Code's hook command does, and exits 3.
    let script = format!(
        "printf '%s' \"$TRACEPARENT\" > traceparent.txt; \
         printf '%s' '{{\"hook_event_name\":\"PreToolUse\",\"tool_name\":\"Bash\",\"tool_input\":{{\"command\":\"ls\"}}}}' \
         | {} hook > hook.json; exit 3",
        env!("CARGO_BIN_EXE_tether")
    );
    let spawned = call(
        &mut ws,
        "sessions.spawn",
        json!({"task": "trace me", "command": ["sh", "-c", script], "cwd": cwd.path()}),
    )
    .await;
    let session_id = spawned["result"]["session_id"].as_str().unwrap_or_else(|| panic!("{spawned}")).to_owned();
    let session = spans_arrive(&spans, "session ", 1).await.remove(0);
    let hook = spans_arrive(&spans, "hook PreToolUse", 1).await.remove(0);

    let traceparent = std::fs::read_to_string(cwd.path().join("traceparent.txt")).unwrap();
    let trace = hex(&ulid::Ulid::from_string(&session_id).unwrap().to_bytes());
    assert_eq!(traceparent, format!("00-{trace}-{}-01", hex(&session.span_id)), "the process continues its span");
    assert_eq!(hex(&session.trace_id), trace, "a session's trace id is its id");
    assert_eq!(attr(&session, "tether.session.id").as_deref(), Some(session_id.as_str()));
    assert_eq!(attr(&session, "process.exit.code").as_deref(), Some("3"));
    assert_eq!(session.status.as_ref().map(|s| s.code), Some(StatusCode::Error as i32), "a non-zero exit");
    assert_eq!(hook.trace_id, session.trace_id, "the hook, through tether hook's TRACEPARENT");
    assert_eq!(hook.parent_span_id, session.span_id);
    assert_eq!(attr(&hook, "gen_ai.tool.name").as_deref(), Some("Bash"));
    assert!(attr(&hook, "tether.hook.decision").is_some());
}

/// `tether_*` and `process_*` names in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && (rest.starts_with("tether_") || rest.starts_with("process_")) {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            names.push(rest[..end].to_owned());
            i += end;
        } else {
            i += 1;
        }
    }
    names
}
