//! Garbage in: a precise error or close code, and the daemon keeps serving.

mod common;

use common::*;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::{Bytes, Message};

async fn still_serving(server: &TestServer) {
    let mut ws = server.raw_session().await;
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong");
}

#[tokio::test]
async fn garbage_text_is_a_parse_error_and_the_connection_lives() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    for garbage in ["{", "not json", "\u{0}\u{1}", "{\"jsonrpc\":\"2.0\",", "123abc"] {
        send_text(&mut ws, garbage).await;
        let reply = recv(&mut ws).await;
        assert_eq!(reply["error"]["code"], -32700, "{garbage:?} → {reply}");
        assert_eq!(reply["id"], serde_json::Value::Null);
    }
    let pong = rpc(&mut ws, json!({"jsonrpc":"2.0","id":1,"method":"server.ping"})).await;
    assert_eq!(pong["result"], "pong");
}

#[tokio::test]
async fn scalars_and_wrong_shapes_are_invalid_requests() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    for text in ["1", "\"str\"", "null", "true", "{}", r#"{"jsonrpc":"2.0","method":"server.ping","id":{}}"#] {
        send_text(&mut ws, text).await;
        let reply = recv(&mut ws).await;
        assert_eq!(reply["error"]["code"], -32600, "{text} → {reply}");
    }
}

#[tokio::test]
async fn a_binary_frame_closes_with_1003() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    ws.send(Message::Binary(Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}"))).await.unwrap();
    let frame = close_frame(&mut ws).await.unwrap();
    assert_eq!(frame.code, CloseCode::Unsupported);
    still_serving(&server).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    let bad = Frame::message(Bytes::from_static(b"{\"a\":\"\xff\xfe\"}"), OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(bad)).await.unwrap();
    let frame = close_frame(&mut ws).await.unwrap();
    assert_eq!(frame.code, CloseCode::Invalid);
    still_serving(&server).await;
}

#[tokio::test]
async fn huge_ids_are_refused_with_a_null_id() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    for id in ["1e400", "123456789012345678901234567890", "18446744073709551615", "-1.5"] {
        send_text(&mut ws, &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"server.ping"}}"#)).await;
        let reply = recv(&mut ws).await;
        assert!(matches!(reply["error"]["code"].as_i64(), Some(-32600 | -32700)), "{id} → {reply}");
        assert_eq!(reply["id"], serde_json::Value::Null);
    }
    let huge = "x".repeat(100_000);
    let reply = rpc(&mut ws, json!({"jsonrpc":"2.0","id":huge,"method":"server.ping"})).await;
    assert_eq!(reply["error"]["code"], -32600);
}

#[tokio::test]
async fn unknown_methods_are_named_in_the_error() {
    let server = TestServer::start().await;
    let mut ws = server.raw_session().await;
    let reply = rpc(&mut ws, json!({"jsonrpc":"2.0","id":5,"method":"no.such.method"})).await;
    assert_eq!(reply["error"]["code"], -32601);
    assert_eq!(reply["id"], 5);
    assert!(reply["error"]["message"].as_str().unwrap().contains("no.such.method"));
}

#[tokio::test]
async fn invalid_params_name_the_field() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    let reply = rpc(&mut ws, json!({"jsonrpc":"2.0","id":0,"method":"session.auth","params":{"token":42}})).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("params.token"), "{reply}");
}

/// Params reach their method as the text the client sent: a number no JSON `Value` can
/// hold is the method's refusal, with the request's id, where the frame itself is sound.
#[tokio::test]
async fn a_number_out_of_range_in_params_is_the_methods_refusal_naming_the_field() {
    let server = TestServer::start().await;
    let mut ws = server.raw().await;
    send_text(&mut ws, r#"{"jsonrpc":"2.0","id":7,"method":"session.auth","params":{"token":1e400}}"#).await;
    let reply = recv(&mut ws).await;
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert_eq!(reply["id"], 7, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("params.token: number out of range"), "{reply}");
    assert!(!message.contains(" at line "), "a position within the params helps nobody: {reply}");
}

#[tokio::test]
async fn a_malformed_http_request_gets_400_and_an_unknown_path_404() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert_eq!(http_get(server.addr, "/nope").await.0, 404);
    still_serving(&server).await;
}
