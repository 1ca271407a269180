//! Replies out of order, cancellation, and server → client calls (the broker).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use tether_proto::ErrorObject;
use tokio::sync::{mpsc, oneshot};

#[tokio::test]
async fn a_fast_request_overtakes_a_slow_one_which_can_then_be_cancelled() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":"slow","method":"test.sleep","params":{"ms":60_000}})).await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":"fast","method":"test.sleep","params":{"ms":0}})).await;
    let first = recv(&mut ws).await;
    assert_eq!(first["id"], "fast", "{first}");
    send(
        &mut ws,
        json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"slow","reason":"user"}}),
    )
    .await;
    let cancelled = recv(&mut ws).await;
    assert_eq!(cancelled["id"], "slow");
    assert_eq!(cancelled["error"]["code"], -32800, "{cancelled}");
}

#[tokio::test]
async fn a_cancelled_id_is_answered_exactly_once() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":7,"method":"test.sleep","params":{"ms":60_000}})).await;
    let cancel = json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}});
    send(&mut ws, cancel.clone()).await;
    send(&mut ws, cancel).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], -32800);
    // The next reply is for the next request, not a second answer to 7.
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":8,"method":"server.ping"})).await;
    assert_eq!(pong["id"], 8, "{pong}");
}

#[tokio::test]
async fn an_id_already_in_flight_is_refused() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"test.sleep","params":{"ms":60_000}})).await;
    let dup = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(dup["error"]["code"], -32600, "{dup}");
    assert!(dup["error"]["message"].as_str().unwrap().contains("already in flight"));
}

#[tokio::test]
async fn a_batch_runs_its_requests_concurrently() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    // The slow element is cancelled from outside the batch; the batch reply then carries both.
    send(
        &mut ws,
        json!([
            {"jsonrpc":"2.0","id":"a","method":"test.sleep","params":{"ms":60_000}},
            {"jsonrpc":"2.0","id":"b","method":"server.ping"}
        ]),
    )
    .await;
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"a"}})).await;
    let replies = recv(&mut ws).await;
    let replies = replies.as_array().unwrap();
    assert_eq!(replies.len(), 2);
    assert!(replies.iter().any(|r| r["id"] == "a" && r["error"]["code"] == -32800));
    assert!(replies.iter().any(|r| r["id"] == "b" && r["result"] == "pong"));
}

#[tokio::test]
async fn the_server_calls_the_client_and_gets_its_answer() {
    let server = TestServer::start().await;
    let client = server
        .client()
        .on_request("test.echo", |params| async move { Ok(json!({"echoed": params})) })
        .connect()
        .await
        .unwrap();
    let answer = client.call_raw("test.callback", json!({"method":"test.echo","params":{"n":1}})).await.unwrap();
    assert_eq!(answer, json!({"echoed": {"n": 1}}));
}

#[tokio::test]
async fn a_client_error_reply_reaches_the_handler() {
    let server = TestServer::start().await;
    let mut probe = server.probe();
    let client = server
        .client()
        .on_request("test.fail", |_| async { Err::<Value, _>(ErrorObject::new(-1, "tool broke")) })
        .connect()
        .await
        .unwrap();
    let err = client.call_raw("test.callback", json!({"method":"test.fail"})).await.unwrap_err();
    assert_eq!(err.code(), Some(-32603));
    assert_eq!(probe.recv().await.unwrap(), json!({"error":"remote","code":-1}));
}

#[tokio::test]
async fn a_callback_times_out_and_its_late_reply_is_ignored() {
    let server = TestServer::start().await;
    let mut probe = server.probe();
    let (release_tx, release_rx) = mpsc::unbounded_channel::<oneshot::Receiver<()>>();
    let release_rx = std::sync::Arc::new(tokio::sync::Mutex::new(release_rx));
    let client = server
        .client()
        .on_request("test.late", move |params| {
            let release_rx = release_rx.clone();
            async move {
                // Answers only when the test says so: after the server has given up.
                let gate = release_rx.lock().await.recv().await.unwrap();
                let _ = gate.await;
                Ok(params)
            }
        })
        .connect()
        .await
        .unwrap();
    let (gate_tx, gate_rx) = oneshot::channel();
    release_tx.send(gate_rx).unwrap();
    let err = client
        .call_raw("test.callback", json!({"method":"test.late","params":"first","timeout_ms":100}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(-32004), "{err}");
    assert_eq!(probe.recv().await.unwrap(), json!({"error":"timeout"}));

    gate_tx.send(()).unwrap();
    // The late reply changes nothing: the next callback gets its own answer.
    let (gate_tx, gate_rx) = oneshot::channel();
    release_tx.send(gate_rx).unwrap();
    gate_tx.send(()).unwrap();
    let answer = client
        .call_raw("test.callback", json!({"method":"test.late","params":"second","timeout_ms":5_000}))
        .await
        .unwrap();
    assert_eq!(answer, "second");
}

#[tokio::test]
async fn pending_callbacks_fail_at_once_when_the_client_disconnects() {
    let server = TestServer::start().await;
    let mut probe = server.probe();
    let mut ws = server.raw_session().await;
    send(
        &mut ws,
        json!({"jsonrpc":"2.0","id":1,"method":"test.callback","params":{"method":"test.never","timeout_ms":600_000}}),
    )
    .await;
    let callback = recv(&mut ws).await;
    assert_eq!(callback["method"], "test.never");
    assert!(callback["id"].as_str().unwrap().starts_with("cb-"), "{callback}");
    drop(ws);
    let outcome = tokio::time::timeout(Duration::from_secs(5), probe.recv()).await;
    assert_eq!(outcome.expect("fails long before its 600 s timeout").unwrap(), json!({"error":"disconnected"}));
}

#[tokio::test]
async fn replies_nobody_waits_for_are_ignored() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":"cb-999","result":1})).await;
    send(&mut ws, json!({"jsonrpc":"2.0","id":"made-up","error":{"code":1,"message":"x"}})).await;
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong");
}

#[tokio::test]
async fn a_panicking_handler_costs_one_request_and_the_domain_keeps_working() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    for _ in 0..3 {
        let error = client.call_raw("test.panic", json!({})).await.unwrap_err();
        assert_eq!(error.code(), Some(-32603), "{error}");
        assert!(error.to_string().contains("test.panic"), "{error}");
    }
    // The same domain (its lock was held by the panicking handler), the same connection.
    let subscribed = client.call_raw("events.subscribe", json!({"families": ["hooks.event"]})).await.unwrap();
    assert!(subscribed["subscription"].is_string());
    client.call_raw("hooks.ingest", json!({"hook_event_name": "Notification", "message": "still here"})).await.unwrap();
    let notice = tokio::time::timeout(PATIENCE, client.next_notification()).await.unwrap().unwrap();
    assert_eq!(notice.params["event"]["kind"], "Notification");
    // Each panic freed its in-flight slot.
    let limited = TestServer::start_with(|c| c.connection.limits.max_in_flight = 1).await;
    let client = limited.connect().await;
    for _ in 0..3 {
        assert_eq!(client.call_raw("test.panic", json!({})).await.unwrap_err().code(), Some(-32603));
    }
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
}
