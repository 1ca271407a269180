//! `GET /metrics`: Prometheus text, the operator's to read, and counters that move.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::json;

/// Parses the text exposition: every sample line is `name{labels} value`; returns them by `name{labels}`.
fn samples(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line == "# EOF",
                "{line}"
            );
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let name = key.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad metric name in {line}");
        out.insert(key.to_owned(), value.parse().unwrap_or_else(|_| panic!("bad value in {line}")));
    }
    out
}

async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.token
    );
    let (status, body) = http_raw(server.addr, request).await;
    assert_eq!(status, 200, "{body}");
    samples(body.as_str().unwrap())
}

#[tokio::test]
async fn metrics_are_prometheus_text_for_the_operator_and_move_with_the_work() {
    let server = TestServer::start().await;
    assert_eq!(http_get(server.addr, "/metrics").await.0, 401, "a bearer token is needed");
    let before = scrape(&server).await;
    let ping = "tether_requests_total{method=\"server.ping\",outcome=\"ok\"}";
    let count = |m: &HashMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);

    let client = server.connect().await;
    for _ in 0..5 {
        client.call_raw("server.ping", json!({})).await.unwrap();
    }
    client.call_raw("runs.start", json!({"intent": "measured", "agent_id": "m"})).await.unwrap();
    let _ = client.call_raw("runs.start", json!({"intent": ""})).await.unwrap_err();
    client.call_raw("hooks.ingest", json!({"hook_event_name": "PreToolUse", "tool_name": "Bash"})).await.unwrap();
    client.call_raw("hooks.ingest", json!({"hook_event_name": "MadeUp"})).await.unwrap();

    let after = scrape(&server).await;
    assert_eq!(count(&after, ping) - count(&before, ping), 5.0);
    assert_eq!(count(&after, "tether_requests_total{method=\"runs.start\",outcome=\"-32602\"}"), 1.0);
    assert_eq!(count(&after, "tether_runs{state=\"in_progress\"}"), 1.0);
    assert!(count(&after, "tether_journal_fsync_seconds_count") >= 1.0);
    assert!(count(&after, "tether_request_duration_seconds_count{method=\"server.ping\"}") >= 5.0);
    assert_eq!(count(&after, "tether_hook_decisions_total{event=\"PreToolUse\",decision=\"none\"}"), 1.0);
    assert_eq!(
        count(&after, "tether_hook_decisions_total{event=\"other\",decision=\"none\"}"),
        1.0,
        "client-made names stay out of labels"
    );
    assert_eq!(count(&after, "tether_connections{state=\"authenticated\",transport=\"tcp\"}"), 1.0);
    let unix = tether_client::Client::builder_unix(&server.socket).token(&server.token).connect().await.unwrap();
    let with_unix = scrape(&server).await;
    assert_eq!(count(&with_unix, "tether_connections{state=\"authenticated\",transport=\"unix\"}"), 1.0);
    drop(unix);
    assert!(after.contains_key("tether_callbacks_pending") && after.contains_key("tether_events_dropped_total"));
    // The journal's files and descriptors: one segment, the writer's descriptor.
    assert_eq!(count(&after, "tether_journal_segments"), 1.0);
    assert!(count(&after, "tether_journal_bytes") > 16.0 && count(&after, "tether_journal_live_bytes") > 0.0);
    assert!((1.0..=17.0).contains(&count(&after, "tether_journal_open_files")), "{after:?}");
    assert!(
        after.contains_key("tether_journal_tombstones") && after.contains_key("tether_journal_segments_retired_total")
    );

    let foreign = format!(
        "GET /metrics HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.token
    );
    assert_eq!(http_raw(server.addr, foreign).await.0, 403, "the Host check applies");
}

/// What a scraper gets: OpenMetrics when its `Accept` asks for it, else the Prometheus
/// text format 0.0.4, each parsed by the Prometheus Python client's own parsers (a strict
/// OpenMetrics one, and the 0.0.4 one), with the content type saying which.
#[tokio::test]
async fn each_scraper_gets_the_format_it_asks_for_and_prometheus_own_parsers_read_it() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    client.call_raw("server.ping", json!({})).await.unwrap();
    // The daemon runs in this process: some CPU time for `process_cpu_seconds` to show
    // (it counts in clock ticks, 10 ms here).
    let busy = std::time::Instant::now();
    while busy.elapsed() < std::time::Duration::from_millis(50) {
        std::hint::black_box(busy.elapsed());
    }
    let fetch = |accept: &str| {
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n{accept}Connection: close\r\n\r\n",
            server.token
        );
        let addr = server.addr;
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            let (head, body) = response.split_once("\r\n\r\n").unwrap();
            let content_type = head.lines().find_map(|l| l.strip_prefix("content-type: ")).unwrap().to_owned();
            (content_type, body.to_owned())
        }
    };
    let (om_type, om) = fetch("Accept: application/openmetrics-text; version=1.0.0,text/plain;q=0.5\r\n").await;
    assert_eq!(om_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.ends_with("# EOF\n"), "{om}");
    let (text_type, text) = fetch("").await;
    assert_eq!(text_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF") && text.contains("# TYPE tether_requests_total counter"), "{text}");

    let python = std::env::var("TETHER_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    let parse = |module: &str, body: &str| {
        let script = format!(
            "import json, sys\nfrom {module} import text_string_to_metric_families as parse\n\
             print(json.dumps({{f.name: [f.type, [[s.name, s.value] for s in f.samples]] for f in parse(sys.stdin.read())}}))"
        );
        let mut child = std::process::Command::new(&python)
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), body.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{module}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()
    };
    for families in [parse("prometheus_client.openmetrics.parser", &om), parse("prometheus_client.parser", &text)] {
        assert_eq!(families["tether_requests"][0], "counter", "{families}");
        assert_eq!(families["tether_build_info"][0], "gauge");
        let build = &families["tether_build_info"][1][0];
        assert_eq!(build[1], 1.0);
        let resident = families["process_resident_memory_bytes"][1][0][1].as_f64().unwrap();
        assert!(resident > 1e6, "a daemon holds more than a megabyte: {resident}");
        assert!(families["process_open_fds"][1][0][1].as_f64().unwrap() >= 3.0);
        assert!(
            families["process_cpu_seconds"][1][0][1].as_f64().unwrap() > 0.0,
            "{}",
            families["process_cpu_seconds"]
        );
    }
}

/// A proposal's answer goes out from the journal's thread, and the rest of its request
/// (its span, its metrics) still finishes when no frame follows: a wake-up held back
/// (`core/src/later.rs`) waits for the next frame any connection reads, or the sweeper.
#[tokio::test]
async fn a_proposal_answered_early_is_counted_though_no_frame_follows_its_answer() {
    let server = TestServer::start().await;
    let client = server
        .client()
        .agent_id("quiet")
        .on_request("tools.execute", |params: serde_json::Value| async move { Ok(params["parameters"].clone()) })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    client.call_raw("runs.start", json!({"intent": "quiet"})).await.unwrap();
    let proposal = json!({"proposal": {"actions": [{"type": "tool_call", "tool": "echo", "parameters": {"x": 1}}]}});
    let answer = client.call_raw("proposal.submit", proposal).await.unwrap();
    assert_eq!(answer["results"][0]["status"], "succeeded", "{answer}");
    // Nothing more on any connection but the scrapes over HTTP, which are not frames.
    let submitted = "tether_requests_total{method=\"proposal.submit\",outcome=\"ok\"}";
    wait_until("the proposal's request counted", async || scrape(&server).await.get(submitted).copied() == Some(1.0))
        .await;
    let after = scrape(&server).await;
    assert_eq!(
        after.get("tether_tool_call_duration_seconds_count{outcome=\"succeeded\"}").copied(),
        Some(1.0),
        "{after:?}"
    );
}
