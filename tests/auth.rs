//! Authentication, browser checks, and the handshake gate, over real TCP.

mod common;

use common::*;
use serde_json::json;
use tether_client::AuthMode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

#[tokio::test]
async fn a_request_without_a_token_gets_32001_then_a_close() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    let reply = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(reply["error"]["code"], -32001);
    assert_eq!(reply["id"], 1);
    assert_eq!(close_frame(&mut ws).await.unwrap().code, CloseCode::Policy);
}

#[tokio::test]
async fn a_wrong_token_gets_32001_then_a_close() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    let reply = rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":"wrong"}})).await;
    assert_eq!(reply["error"]["code"], -32001, "{reply}");
    assert_eq!(close_frame(&mut ws).await.unwrap().code, CloseCode::Policy);
}

#[tokio::test]
async fn frame_auth_binds_the_agent_and_reports_it() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    let reply = rpc(
        &mut ws,
        json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":server.token,"agent_id":"agent-7","attach":false}}),
    )
    .await;
    assert_eq!(reply["result"], json!({"ok": true, "auth_enabled": true, "agent_id": "agent-7"}));
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong");
}

#[tokio::test]
async fn frame_auth_through_the_client() {
    let server = TestServer::start().await;
    let client = server.client().auth_mode(AuthMode::Frame).connect().await.unwrap();
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
}

#[tokio::test]
async fn header_auth_needs_no_auth_frame() {
    let server = TestServer::start().await;
    let client = server.client().auth_mode(AuthMode::Header).connect().await.unwrap();
    assert_eq!(client.handshake().unwrap().protocol_version, 3);
    assert_eq!(client.call_raw("server.ping", json!({})).await.unwrap(), "pong");
}

#[tokio::test]
async fn a_wrong_bearer_header_gets_401() {
    let server = TestServer::start().await;
    assert_eq!(server.upgrade_status(&[("authorization", "Bearer nope")]).await, 401);
    assert_eq!(server.upgrade_status(&[("authorization", "Basic abc")]).await, 401);
    let good = format!("Bearer {}", server.token);
    assert_eq!(server.upgrade_status(&[("authorization", &good)]).await, 101);
}

#[tokio::test]
async fn a_foreign_origin_gets_403_and_an_allowed_one_passes() {
    let server = TestServer::start_with(|c| c.allowed_origins = vec!["http://localhost:3000".into()]).await;
    assert_eq!(server.upgrade_status(&[("origin", "http://evil.example")]).await, 403);
    assert_eq!(server.upgrade_status(&[("origin", "null")]).await, 403);
    assert_eq!(server.upgrade_status(&[("origin", "http://localhost:3000")]).await, 101);
    assert_eq!(server.upgrade_status(&[]).await, 101, "no Origin (a non-browser client) passes");
}

#[tokio::test]
async fn a_non_loopback_host_is_rejected() {
    let server = TestServer::start().await;
    assert_eq!(server.upgrade_status(&[("host", "evil.example")]).await, 403);
    assert_eq!(server.upgrade_status(&[("host", "evil.example:9100")]).await, 403);
    assert_eq!(server.upgrade_status(&[("host", "localhost:9100")]).await, 101);
    assert_eq!(server.upgrade_status(&[("host", "[::1]:9100")]).await, 101);
}

#[tokio::test]
async fn without_auth_the_connection_is_the_operator_from_the_start() {
    let server = TestServer::start_with(|c| c.authenticator = None).await;
    let mut ws = server.raw().await;
    let hs =
        rpc(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"server.handshake","params":{"protocol_version":3}})).await;
    assert_eq!(hs["result"]["protocol_version"], 3, "{hs}");
    let auth =
        rpc(&mut ws, json!({"jsonrpc":"2.0","id":3,"method":"session.auth","params":{"token":"anything"}})).await;
    assert_eq!(auth["result"]["auth_enabled"], false);
}

#[tokio::test]
async fn application_methods_need_the_handshake_first() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":server.token}})).await;
    let early = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"test.sleep","params":{"ms":0}})).await;
    assert_eq!(early["error"]["code"], -32005, "{early}");
    let ping = rpc(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"server.ping"})).await;
    assert_eq!(ping["result"], "pong", "ping works before the handshake");
}

#[tokio::test]
async fn handshake_version_and_capability_negotiation() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":server.token}})).await;
    let too_new = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.handshake","params":{"protocol_version":5,"protocol_version_min":4}})).await;
    assert_eq!(too_new["error"]["code"], -32006, "{too_new}");
    assert_eq!(too_new["error"]["data"]["server_protocol_version_max"], 3);
    let missing = rpc(&mut ws, json!({"jsonrpc":"2.0","id":2,"method":"server.handshake","params":{"protocol_version":3,"required_capabilities":["teleport"]}})).await;
    assert_eq!(missing["error"]["code"], -32008, "{missing}");
    assert_eq!(missing["error"]["data"]["missing"], json!(["teleport"]));
    let range = rpc(&mut ws, json!({"jsonrpc":"2.0","id":3,"method":"server.handshake","params":{"protocol_version":4,"protocol_version_min":2,"client_version":"x","optional_capabilities":["teleport"]}})).await;
    assert_eq!(range["result"]["protocol_version"], 3, "{range}");
    assert_eq!(range["result"]["server_protocol_version_min"], 3);
    assert_eq!(range["result"]["server_protocol_version_max"], 3);
    assert_eq!(range["result"]["negotiated_capabilities"], json!([]));
    assert!(range["result"]["server_version"].is_string());
}
