//! Replays JSON-RPC transcripts against the dispatcher over in-memory channels.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{sink, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use tether_core::{Admission, ConnectionConfig, ConnectionOptions, Phase, Registry, RpcError, serve_connection};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

tether_proto::method!(Subtract, "subtract", Value => i64, "Spec example.");
tether_proto::method!(Sum, "sum", Value => i64, "Spec example.");
tether_proto::method!(Update, "update", Value => (), "Spec example.");
tether_proto::method!(NotifyHello, "notify_hello", Value => (), "Spec example.");
tether_proto::method!(NotifySum, "notify_sum", Value => (), "Spec example.");
tether_proto::method!(GetData, "get_data", Value => Value, "Spec example.");

#[derive(Deserialize)]
struct Named {
    minuend: i64,
    subtrahend: i64,
}

fn spec_registry() -> Registry {
    let mut r = Registry::new();
    r.register_in::<Subtract, _, _>(Phase::Handshake, |_, params| async move {
        match params {
            Value::Array(a) => Ok(a[0].as_i64().unwrap() - a[1].as_i64().unwrap()),
            named => {
                let n: Named =
                    serde_json::from_value(named).map_err(|e| RpcError::InvalidParams(format!("params: {e}")))?;
                Ok(n.minuend - n.subtrahend)
            }
        }
    });
    r.register_in::<Sum, _, _>(Phase::Handshake, |_, params| async move {
        Ok(params.as_array().unwrap().iter().filter_map(Value::as_i64).sum())
    });
    r.register_in::<Update, _, _>(Phase::Handshake, |_, _| async { Ok(()) });
    r.register_in::<NotifyHello, _, _>(Phase::Handshake, |_, _| async { Ok(()) });
    r.register_in::<NotifySum, _, _>(Phase::Handshake, |_, _| async { Ok(()) });
    r.register_in::<GetData, _, _>(Phase::Handshake, |_, _| async { Ok(json!(["hello", 5])) });
    r
}

struct Peer {
    to_server: mpsc::UnboundedSender<Result<Message, WsError>>,
    from_server: mpsc::UnboundedReceiver<Message>,
}

impl Peer {
    /// A connection with auth off, served by the real dispatcher.
    fn start(registry: Registry) -> Peer {
        Peer::start_with(registry, ConnectionConfig::default(), None)
    }

    fn start_with(registry: Registry, config: ConnectionConfig, admission: Option<Arc<dyn Admission>>) -> Peer {
        let (to_server, inbound) = mpsc::unbounded_channel();
        let (outbound, from_server) = mpsc::unbounded_channel::<Message>();
        let incoming = Box::pin(stream::unfold(inbound, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) }));
        let outgoing = Box::pin(sink::unfold(outbound, |tx, message: Message| async move {
            tx.send(message).map_err(|_| WsError::ConnectionClosed)?;
            Ok::<_, WsError>(tx)
        }));
        let options = ConnectionOptions {
            config: Arc::new(config),
            principal: None,
            read_only: false,
            authenticator: None,
            shutdown: watch::channel(tether_core::Shutdown::Running).1,
            admission,
            credential: None,
            lifetime: None,
        };
        tokio::spawn(serve_connection(incoming, outgoing, Arc::new(registry), options));
        Peer { to_server, from_server }
    }

    fn send(&self, text: &str) {
        self.to_server.send(Ok(Message::Text(text.to_owned().into()))).unwrap();
    }

    async fn recv(&mut self) -> Value {
        let message = tokio::time::timeout(Duration::from_secs(10), self.from_server.recv()).await.unwrap().unwrap();
        serde_json::from_str(message.to_text().unwrap()).unwrap_or_else(|e| panic!("{e}: {message:?}"))
    }
}

/// Errors compare by code (messages are free text); everything else exactly.
fn normalise(reply: &Value) -> Value {
    match reply {
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalise).collect();
            items.sort_by_key(|v| v.to_string());
            Value::Array(items)
        }
        Value::Object(obj) => {
            let mut obj = obj.clone();
            if let Some(error) = obj.get_mut("error") {
                *error = json!({ "code": error["code"] });
            }
            Value::Object(obj)
        }
        other => other.clone(),
    }
}

async fn replay(transcript: &str) {
    let mut peer = Peer::start(spec_registry());
    let mut sentinel = 0;
    for (n, line) in transcript.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
        if let Some(request) = line.strip_prefix("--> ") {
            peer.send(request);
        } else if line == "<-- (nothing)" {
            // Nothing came back if the next reply is the one to a later request.
            sentinel += 1;
            peer.send(&json!({"jsonrpc":"2.0","method":"server.ping","id":format!("sentinel-{sentinel}")}).to_string());
            let reply = peer.recv().await;
            assert_eq!(reply["id"], format!("sentinel-{sentinel}"), "line {n}: expected no reply, got {reply}");
        } else if let Some(expected) = line.strip_prefix("<-- ") {
            let expected: Value = serde_json::from_str(expected).unwrap();
            let reply = peer.recv().await;
            assert_eq!(normalise(&reply), normalise(&expected), "line {n}: full reply {reply}");
        }
    }
}

#[tokio::test]
async fn specification_examples() {
    replay(include_str!("transcripts/jsonrpc-spec.txt")).await;
}

#[tokio::test]
async fn protocol_edges() {
    replay(include_str!("transcripts/protocol-edges.txt")).await;
}

#[tokio::test]
async fn invalid_params_name_the_field() {
    let mut peer = Peer::start(spec_registry());
    peer.send(r#"{"jsonrpc":"2.0","method":"server.handshake","params":{"protocol_version":"three"},"id":1}"#);
    let reply = peer.recv().await;
    assert_eq!(reply["error"]["code"], -32602);
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains("params.protocol_version"), "{message}");
}

/// A transport whose pool of connections is full.
struct Full;

impl Admission for Full {
    fn admit(&self) -> Result<(), RpcError> {
        Err(RpcError::limit("too many connections", "limits.max_connections", 0))
    }
}

#[tokio::test]
async fn with_auth_off_a_connection_the_transport_cannot_admit_gets_its_refusal_then_a_close_frame_at_once() {
    // Were the close left to this timeout, no close frame would come within `recv`'s patience.
    let config = ConnectionConfig { close_timeout: Duration::from_secs(600), ..ConnectionConfig::default() };
    let mut peer = Peer::start_with(spec_registry(), config, Some(Arc::new(Full)));
    peer.send(r#"{"jsonrpc":"2.0","method":"server.ping","id":1}"#);
    let refused = peer.recv().await;
    assert_eq!(refused["error"]["data"]["limit"], "limits.max_connections", "{refused}");
    let close = tokio::time::timeout(Duration::from_secs(10), peer.from_server.recv()).await.unwrap().unwrap();
    let Message::Close(Some(frame)) = close else { panic!("a close frame, got {close:?}") };
    assert_eq!(u16::from(frame.code), 1008);
    assert!(frame.reason.contains("too many connections"), "{}", frame.reason);
}

/// How often [`Counted`] results were serialised.
static SERIALISED: AtomicUsize = AtomicUsize::new(0);

/// A result that counts its serialisations.
#[derive(Deserialize, schemars::JsonSchema)]
pub struct Counted(String);

impl serde::Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SERIALISED.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str(&self.0)
    }
}

tether_proto::method!(AnswersEarly, "answers_early", Value => Counted, "Answers ahead when params.early.");

#[tokio::test]
async fn a_call_answered_early_gets_that_one_reply_and_its_handlers_result_is_never_serialised() {
    let mut registry = Registry::new();
    registry
        .register_in::<AnswersEarly, _, _>(Phase::Handshake, |_, params| async move {
            if params["early"] == true {
                let early = tether_core::Early::take().expect("a single call of a method that answers early");
                early.prepare(&"early").expect("a string serialises").send();
            }
            Ok(Counted("late".into()))
        })
        .answers_early();
    let mut peer = Peer::start(registry);
    peer.send(r#"{"jsonrpc":"2.0","method":"answers_early","params":{"early":true},"id":1}"#);
    assert_eq!(peer.recv().await, json!({"jsonrpc": "2.0", "id": 1, "result": "early"}));
    // The next reply is the second call's: nothing more was sent for the first.
    peer.send(r#"{"jsonrpc":"2.0","method":"answers_early","params":{"early":false},"id":2}"#);
    assert_eq!(peer.recv().await, json!({"jsonrpc": "2.0", "id": 2, "result": "late"}));
    assert_eq!(SERIALISED.load(Ordering::SeqCst), 1, "only the result that was sent is serialised");
}
