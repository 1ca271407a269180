//! Every limit: configurable, enforced, and named in the error or close reason.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn an_oversize_message_closes_with_1009() {
    let server = TestServer::start_with(|c| c.connection.limits.max_message_bytes = 1024).await;
    let mut ws = server.raw_session().await;
    let fits = "x".repeat(900);
    let reply = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping","params":{"pad":fits}})).await;
    assert_eq!(reply["result"], "pong", "a message under the limit gets through: {reply}");
    send_text(&mut ws, &"x".repeat(2000)).await;
    let frame = close_frame(&mut ws).await.unwrap();
    assert_eq!(frame.code, CloseCode::Size);
    assert!(frame.reason.contains("max_message_bytes"), "{}", frame.reason);
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009() {
    let server = TestServer::start_with(|c| c.connection.limits.max_frame_bytes = 512).await;
    let mut ws = server.raw_session().await;
    send_text(&mut ws, &"x".repeat(600)).await;
    let frame = close_frame(&mut ws).await.unwrap();
    assert_eq!(frame.code, CloseCode::Size);
    assert!(frame.reason.contains("max_frame_bytes"), "{}", frame.reason);
}

#[tokio::test]
async fn nesting_past_the_depth_limit_is_a_parse_error_naming_it() {
    let server = TestServer::start_with(|c| c.connection.limits.max_json_depth = 4).await;
    let mut ws = server.raw_session().await;
    let ok = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"test.sleep","params":{"a":[[0]]}})).await;
    assert_eq!(ok["result"], 0, "depth 4 is allowed: {ok}");
    let deep = rpc(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"test.sleep","params":{"a":[[[0]]]}})).await;
    assert_eq!(deep["error"]["code"], -32700);
    assert_eq!(deep["id"], serde_json::Value::Null);
    assert!(deep["error"]["message"].as_str().unwrap().contains("max_json_depth"), "{deep}");
}

#[tokio::test]
async fn default_depth_limit_refuses_hostile_nesting() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    send_text(&mut ws, &format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))).await;
    let reply = recv(&mut ws).await;
    assert_eq!(reply["error"]["code"], -32700);
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong", "the connection survives");
}

#[tokio::test]
async fn a_batch_over_the_cap_is_one_invalid_request() {
    let server = TestServer::start_with(|c| c.connection.limits.max_batch = 3).await;
    let mut ws = server.raw_session().await;
    let ping = |id: i64| json!({"jsonrpc":"2.0","id":id,"method":"server.ping"});
    let three = rpc(&mut ws, json!([ping(1), ping(2), ping(3)])).await;
    assert_eq!(three.as_array().unwrap().len(), 3);
    let four = rpc(&mut ws, json!([ping(1), ping(2), ping(3), ping(4)])).await;
    assert_eq!(four["error"]["code"], -32600, "{four}");
    assert!(four["error"]["message"].as_str().unwrap().contains("max_batch"));
}

#[tokio::test]
async fn connections_past_the_cap_get_503() {
    let server = TestServer::start_with(|c| c.connection.limits.max_connections = 2).await;
    let first = server.raw_session().await;
    let _second = server.raw_session().await;
    let bearer = format!("Bearer {}", server.token);
    assert_eq!(server.upgrade_status(&[("authorization", &bearer)]).await, 503);
    // Authenticating by frame, the refusal comes with session.auth: -32002 naming the limit.
    let mut third = server.raw().await;
    let auth = json!({"jsonrpc":"2.0","id":1,"method":"session.auth","params":{"token": server.token}});
    let refused = rpc(&mut third, auth).await;
    assert_eq!(refused["error"]["code"], -32002, "{refused}");
    assert_eq!(refused["error"]["data"]["limit"], "limits.max_connections");
    assert_eq!(close_frame(&mut third).await.unwrap().code, CloseCode::Policy);
    drop(first);
    server.wait_for_connections(1).await;
    assert_eq!(server.upgrade_status(&[("authorization", &bearer)]).await, 101);
}

#[tokio::test]
async fn requests_past_the_in_flight_cap_are_refused_at_once() {
    let server = TestServer::start_with(|c| c.connection.limits.max_in_flight = 2).await;
    let mut ws = server.raw_session().await;
    for id in [1, 2] {
        send(&mut ws, json!({"jsonrpc":"2.0","id":id,"method":"test.sleep","params":{"ms":60_000}})).await;
    }
    let third = rpc(&mut ws, json!({"jsonrpc":"2.0","id":3,"method":"test.sleep","params":{"ms":0}})).await;
    assert_eq!(third["id"], 3);
    assert_eq!(third["error"]["code"], -32002, "{third}");
    assert_eq!(third["error"]["data"]["limit"], "limits.max_in_flight");
    // Cancelling one frees its slot.
    send(&mut ws, json!({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], -32800);
    let fourth = rpc(&mut ws, json!({"jsonrpc":"2.0","id":4,"method":"test.sleep","params":{"ms":0}})).await;
    assert_eq!(fourth["result"], 0, "{fourth}");
}

#[tokio::test]
async fn an_id_over_the_length_limit_is_refused() {
    let server = TestServer::start_with(|c| c.connection.limits.max_id_bytes = 8).await;
    let mut ws = server.raw_session().await;
    let ok = rpc(&mut ws, json!({"jsonrpc":"2.0","id":"12345678","method":"server.ping"})).await;
    assert_eq!(ok["result"], "pong");
    let long = rpc(&mut ws, json!({"jsonrpc":"2.0","id":"123456789","method":"server.ping"})).await;
    assert_eq!(long["error"]["code"], -32600);
    assert_eq!(long["id"], serde_json::Value::Null);
    assert!(long["error"]["message"].as_str().unwrap().contains("max_id_bytes"));
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_without_stalling_others() {
    let server = TestServer::start_with(|c| {
        c.connection.limits.outbound_queue = 4;
        c.connection.limits.stall_timeout_ms = 200;
    })
    .await;
    let mut slow = server.raw_session().await;
    let count = 2_000;
    send(&mut slow, json!({"jsonrpc":"2.0","id":1,"method":"test.flood","params":{"count":count,"bytes":65_536}}))
        .await;

    // Meanwhile another client is served as usual.
    let other = server.connect().await;
    for _ in 0..20 {
        let pong = tokio::time::timeout(Duration::from_secs(2), other.call_raw("server.ping", json!({}))).await;
        assert_eq!(pong.expect("other clients are not stalled").unwrap(), "pong");
    }

    // The server gives up on the reader that never reads…
    server.wait_for_connections(1).await;
    // …so the backlog it sees when it finally reads ends early, with a 1008 close or a reset.
    let mut flooded = 0;
    let mut close = None;
    while let Ok(Some(message)) = tokio::time::timeout(PATIENCE, slow.next()).await {
        match message {
            Ok(tokio_tungstenite::tungstenite::Message::Text(_)) => flooded += 1,
            Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => close = frame,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(flooded < count, "the flood was cut off ({flooded} of {count} arrived)");
    if let Some(frame) = close {
        assert_eq!(frame.code, CloseCode::Policy);
    }
}

fn error_data(error: &tether_client::ClientError) -> serde_json::Value {
    match error {
        tether_client::ClientError::Rpc(e) => e.data.clone().unwrap_or_default(),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn names_past_limits_names_are_refused_naming_the_field_and_the_limit() {
    let server = TestServer::start().await;
    let client = server.connect().await;
    let long = "n".repeat(257);
    let cases = [
        ("tools.register", json!([{"name": long}]), "params[].name", "limits.names.tool"),
        ("runs.start", json!({"intent": "x", "agent_id": long}), "params.agent_id", "limits.names.agent"),
        ("events.subscribe", json!({"families": ["n".repeat(129)]}), "params.families[]", "limits.names.family"),
        (
            "sessions.spawn",
            json!({"task": "t", "command": ["true"], "cwd": "/", "name": long}),
            "params.name",
            "limits.names.session",
        ),
    ];
    for (method, params, field, limit) in cases {
        let error = client.call_raw(method, params).await.unwrap_err();
        assert_eq!(error.code(), Some(-32602), "{method}: {error}");
        let data = error_data(&error);
        assert_eq!((data["field"].as_str(), data["limit"].as_str()), (Some(field), Some(limit)), "{method}: {error}");
        assert!(error.to_string().len() < 600, "the name is not echoed back");
    }
    // An agent id bound by session.auth is a name too.
    let mut ws = server.raw().await;
    let auth = json!({"jsonrpc": "2.0", "id": 1, "method": "session.auth", "params": {"token": server.token, "agent_id": long}});
    let reply = rpc(&mut ws, auth).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert_eq!(reply["error"]["data"]["limit"], "limits.names.agent", "{reply}");
    // At the bound, accepted.
    client.call_raw("runs.start", json!({"intent": "x", "agent_id": "a".repeat(256)})).await.unwrap();
}

#[tokio::test]
async fn unpaged_list_and_trace_past_runs_max_unpaged_reply_bytes_ask_the_client_to_page() {
    let runs = tether_runs::RunsConfig { max_unpaged_reply_bytes: 8 << 10, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let client = server.client().agent_id("pager").connect().await.unwrap();
    let mut last = json!(null);
    for _ in 0..3 {
        last = client.call_raw("runs.start", json!({"intent": "i".repeat(5 << 10)})).await.unwrap();
    }
    let refused = client.call_raw("runs.list", json!({})).await.unwrap_err();
    assert_eq!(refused.code(), Some(-32602), "{refused}");
    assert_eq!(error_data(&refused)["limit"], "runs.max_unpaged_reply_bytes");
    assert!(refused.to_string().contains("limit") && refused.to_string().contains("next_cursor"), "{refused}");
    let page = client.call_raw("runs.list", json!({"limit": 1})).await.unwrap();
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_u64(), "{page}");

    let run_id = last["run_id"].clone();
    let big = json!({"run_id": run_id, "outcome": {"status": "success", "summary": "s".repeat(4 << 10)}});
    client.call_raw("runs.complete", big).await.unwrap();
    let refused = client.call_raw("runs.get_trace", json!({"run_id": run_id})).await.unwrap_err();
    assert_eq!(error_data(&refused)["limit"], "runs.max_unpaged_reply_bytes", "{refused}");
    let page = client.call_raw("runs.get_trace", json!({"run_id": run_id, "limit": 1})).await.unwrap();
    assert_eq!(page["records"].as_array().unwrap().len(), 1);
    assert_eq!(page["next_cursor"], 1);
}

#[tokio::test]
async fn an_outcome_past_runs_max_outcome_bytes_is_refused() {
    let runs = tether_runs::RunsConfig { max_outcome_bytes: 1024, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let client = server.client().agent_id("o").connect().await.unwrap();
    let run = client.call_raw("runs.start", json!({"intent": "x"})).await.unwrap();
    let outcome = json!({"run_id": run["run_id"], "outcome": {"status": "success", "summary": "s".repeat(2048)}});
    let refused = client.call_raw("runs.complete", outcome).await.unwrap_err();
    assert_eq!(error_data(&refused)["limit"], "runs.max_outcome_bytes", "{refused}");
    let reason = json!({"run_id": run["run_id"], "reason": "r".repeat(2048)});
    assert_eq!(error_data(&client.call_raw("runs.cancel", reason).await.unwrap_err())["field"], "params.reason");
    client.call_raw("runs.cancel", json!({"run_id": run["run_id"], "reason": "fits"})).await.unwrap();
}

/// A client of `agent` whose one tool, `echo`, answers its parameters and counts its
/// calls, with a run started: the run limits' tests.
async fn counted_echo_run(
    server: &TestServer,
    agent: &str,
) -> (tether_client::Client, std::sync::Arc<std::sync::atomic::AtomicUsize>, serde_json::Value) {
    let executed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = executed.clone();
    let client = server
        .client()
        .agent_id(agent)
        .on_request("tools.execute", move |params: serde_json::Value| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { Ok(params["parameters"].clone()) }
        })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    let run = client.call_raw("runs.start", json!({"intent": "x"})).await.unwrap();
    (client, executed, run)
}

#[tokio::test]
async fn a_run_at_runs_max_turns_per_run_refuses_proposals_before_any_tool_runs() {
    let runs = tether_runs::RunsConfig { max_turns_per_run: 3, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let (client, executed, run) = counted_echo_run(&server, "long").await;
    let action = |id: &str| json!({"id": id, "type": "tool_call", "tool": "echo", "parameters": {"n": 1}});
    let submit = |id: &str, actions: &[&str]| {
        let actions: Vec<_> = actions.iter().map(|a| action(a)).collect();
        json!({"proposal": {"id": id, "actions": actions}})
    };
    let refused = |error: tether_client::ClientError| {
        assert_eq!(error.code(), Some(-32002), "{error}");
        let data = error_data(&error);
        assert_eq!((data["limit"].as_str(), data["value"].as_u64()), (Some("runs.max_turns_per_run"), Some(3)));
    };

    client.call_raw("proposal.submit", submit("p1", &["a"])).await.unwrap();
    client.call_raw("proposal.submit", submit("p2", &["a"])).await.unwrap();
    // Two actions with one turn left: refused whole, neither runs.
    refused(client.call_raw("proposal.submit", submit("p3", &["a", "b"])).await.unwrap_err());
    assert_eq!(executed.load(Ordering::SeqCst), 2);
    client.call_raw("proposal.submit", submit("p3", &["a"])).await.unwrap();
    refused(client.call_raw("proposal.submit", submit("p4", &["a"])).await.unwrap_err());
    assert_eq!(executed.load(Ordering::SeqCst), 3);
    // A proposal submitted again is answered from the journal, at the cap too.
    let again = client.call_raw("proposal.submit", submit("p1", &["a"])).await.unwrap();
    assert_eq!(again["results"][0]["status"], "succeeded", "{again}");
    assert_eq!(executed.load(Ordering::SeqCst), 3, "answered, not run again");

    // A fork takes the turns it copies from its cap.
    let fork = client.call_raw("runs.fork", json!({"run_id": run["run_id"]})).await.unwrap();
    refused(client.call_raw("proposal.submit", submit("p5", &["a"])).await.unwrap_err());
    client.call_raw("runs.cancel", json!({"run_id": fork["run_id"], "reason": "full"})).await.unwrap();
    // The run stays its owner's to end, with its three turns.
    client.call_raw("runs.complete", json!({"run_id": run["run_id"], "outcome": {"status": "success"}})).await.unwrap();
    assert_eq!(client.call_raw("runs.get", json!({"run_id": run["run_id"]})).await.unwrap()["turn_count"], 3);
    assert_eq!(executed.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn proposals_in_flight_at_once_cannot_pass_runs_max_turns_per_run_together() {
    use std::sync::Arc;
    let runs = tether_runs::RunsConfig { max_turns_per_run: 1, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    // The tool holds its call until told to answer, so the first proposal stays in flight.
    let (called, mut calls) = tokio::sync::mpsc::unbounded_channel::<()>();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let gate = release.clone();
    let client = server
        .client()
        .agent_id("racing")
        .on_request("tools.execute", move |params: serde_json::Value| {
            let (called, gate) = (called.clone(), gate.clone());
            async move {
                called.send(()).unwrap();
                gate.acquire().await.unwrap().forget();
                Ok(params["parameters"].clone())
            }
        })
        .connect()
        .await
        .unwrap();
    client.call_raw("tools.register", json!([{"name": "echo"}])).await.unwrap();
    client.call_raw("runs.start", json!({"intent": "x"})).await.unwrap();
    let submit = |id: &str| json!({"proposal": {"id": id, "actions": [{"type": "tool_call", "tool": "echo", "parameters": {}}]}});
    let first = tokio::spawn({
        let client = client.clone();
        let params = submit("p1");
        async move { client.call_raw("proposal.submit", params).await }
    });
    calls.recv().await.unwrap();
    // The first proposal's turn is not journalled yet, but its place is taken.
    let second = client.call_raw("proposal.submit", submit("p2")).await.unwrap_err();
    assert_eq!(second.code(), Some(-32002), "{second}");
    assert_eq!(error_data(&second)["limit"], "runs.max_turns_per_run");
    release.add_permits(1);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first["results"][0]["status"], "succeeded", "{first}");
    assert!(calls.try_recv().is_err(), "the refused proposal's tool never ran");
}

/// A run's records stay within `runs.max_run_bytes`: the turn that would pass it is
/// journalled without its output (its action failed, naming the limit), and once the
/// run is at it a proposal is refused whole (-32002, naming it) before its tool runs.
/// The run is still its owner's to end.
#[tokio::test]
async fn a_run_at_runs_max_run_bytes_drops_the_output_then_refuses_proposals() {
    let runs = tether_runs::RunsConfig { max_run_bytes: 4096, ..Default::default() };
    let server = TestServer::start_setup(Setup { runs, ..Default::default() }, |_| {}).await;
    let (client, executed, run) = counted_echo_run(&server, "big").await;
    // Each turn journals its parameters and, echoed, its output: about 2.3 KB.
    let pad = "p".repeat(1000);
    let submit = |n: usize| json!({"proposal": {"actions": [{"id": format!("a{n}"), "type": "tool_call", "tool": "echo", "parameters": {"pad": pad}}]}});
    let first = client.call_raw("proposal.submit", submit(0)).await.unwrap();
    assert_eq!(first["results"][0]["status"], "succeeded", "{first}");
    let mut shrunk = 0;
    let refused = loop {
        let n = executed.load(Ordering::SeqCst);
        assert!(n < 10, "a 4 KiB run took {n} turns of 2.3 KB without a refusal");
        match client.call_raw("proposal.submit", submit(n)).await {
            Ok(answer) => {
                let result = &answer["results"][0];
                assert_eq!(result["status"], "failed", "a turn past the allowance: {answer}");
                assert!(result["error"].as_str().unwrap().contains("runs.max_run_bytes"), "{answer}");
                assert!(result["output"].is_null(), "its output dropped: {answer}");
                shrunk += 1;
            }
            Err(error) => break error,
        }
    };
    assert!(shrunk >= 1, "the turn that passed the allowance was journalled, shrunk");
    assert_eq!(refused.code(), Some(-32002), "{refused}");
    let data = error_data(&refused);
    assert_eq!((data["limit"].as_str(), data["value"].as_u64()), (Some("runs.max_run_bytes"), Some(4096)));
    let turns = executed.load(Ordering::SeqCst);
    assert_eq!(turns, 1 + shrunk, "the refused proposal's tool never ran");
    client.call_raw("runs.complete", json!({"run_id": run["run_id"], "outcome": {"status": "success"}})).await.unwrap();
    let got = client.call_raw("runs.get", json!({"run_id": run["run_id"]})).await.unwrap();
    assert_eq!(got["turn_count"], turns, "{got}");
    // A fork of it would start over the allowance: refused, naming it.
    let fork = client.call_raw("runs.fork", json!({"run_id": run["run_id"]})).await.unwrap_err();
    assert_eq!(error_data(&fork)["limit"], "runs.max_run_bytes", "{fork}");
}
