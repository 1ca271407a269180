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
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
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
