//! Server → client requests: ids the server allocates, replies matched by id.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tether_proto::ErrorObject;
use tether_proto::jsonrpc::Id;
use tokio::sync::oneshot;

use crate::caller::BuildParams;
use crate::outbound::Outbound;

type Reply = Result<Value, ErrorObject>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{method} got no reply within {timeout_ms} ms")]
    Timeout { method: String, timeout_ms: u64 },
    #[error("the connection closed before {method} was answered")]
    Disconnected { method: String },
    #[error("the client answered {method} with an error: {error}")]
    Remote { method: String, error: ErrorObject },
}

/// Server → client calls waiting for their reply, across every connection.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// How many server → client calls are waiting for a reply right now.
pub fn callbacks_pending() -> u64 {
    PENDING.load(Ordering::Relaxed)
}

/// Prefix of the ids the server allocates, as CAR clients expect (`"cb-7"`).
const ID_PREFIX: &str = "cb-";

#[derive(Default)]
pub(crate) struct Broker {
    next_id: AtomicU64,
    /// `None` once the connection has closed: no call may wait after that.
    /// Keyed by the ids this broker mints, so a fast hash (seeded per process) is enough.
    pending: Mutex<Option<HashMap<u64, oneshot::Sender<Reply>, foldhash::fast::RandomState>>>,
}

impl Broker {
    pub(crate) fn new() -> Self {
        Broker { next_id: AtomicU64::new(1), pending: Mutex::new(Some(HashMap::default())) }
    }

    /// Calls the client; `build` makes the params from the request id (`"cb-N"`).
    pub(crate) async fn call(
        &self,
        outbound: &Outbound,
        method: &str,
        build: BuildParams<'_>,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let disconnected = || CallError::Disconnected { method: method.to_owned() };
        match self.pending.lock().as_mut() {
            Some(pending) => pending.insert(n, tx),
            None => return Err(disconnected()),
        };
        // Removes the entry however this call ends (timeout, or the caller dropping us).
        PENDING.fetch_add(1, Ordering::Relaxed);
        let _entry = PendingEntry { broker: self, id: n };

        let request_id = format!("{ID_PREFIX}{n}");
        outbound.send_text(request_text(&request_id, method, build)).await.map_err(|_| disconnected())?;

        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(CallError::Remote { method: method.to_owned(), error }),
            Ok(Err(_)) => Err(disconnected()),
            Err(_) => Err(CallError::Timeout { method: method.to_owned(), timeout_ms: timeout.as_millis() as u64 }),
        }
    }

    /// Routes a client's reply to the call waiting for it. Returns false for an
    /// id nobody waits for (a late reply after a timeout, or a made-up id).
    pub(crate) fn complete(&self, id: &Id, reply: Reply) -> bool {
        let Some(n) = parse_id(id) else { return false };
        let waiter = self.pending.lock().as_mut().and_then(|p| p.remove(&n));
        match waiter {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    /// Fails every pending call at once: dropping the senders wakes their receivers.
    pub(crate) fn close(&self) {
        self.pending.lock().take();
    }
}

/// A request as sent (`tether_proto::jsonrpc::Request`'s shape), written in one
/// buffer: the params go straight in after the envelope's members.
fn request_text(id: &str, method: &str, build: BuildParams<'_>) -> String {
    let mut text = Vec::with_capacity(256);
    text.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    serde_json::to_writer(&mut text, id).expect("a string always serializes");
    text.extend_from_slice(br#","method":"#);
    serde_json::to_writer(&mut text, method).expect("a string always serializes");
    text.extend_from_slice(br#","params":"#);
    build.write(id, &mut text);
    text.push(b'}');
    String::from_utf8(text).expect("JSON is UTF-8")
}

struct PendingEntry<'a> {
    broker: &'a Broker,
    id: u64,
}

impl Drop for PendingEntry<'_> {
    fn drop(&mut self) {
        PENDING.fetch_sub(1, Ordering::Relaxed);
        if let Some(pending) = self.broker.pending.lock().as_mut() {
            pending.remove(&self.id);
        }
    }
}

fn parse_id(id: &Id) -> Option<u64> {
    match id {
        Id::String(s) => s.strip_prefix(ID_PREFIX)?.parse().ok(),
        Id::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio_tungstenite::tungstenite::{Error as WsError, Message};

    /// A socket that takes every frame at once and hands it to the test.
    struct Tap(tokio::sync::mpsc::UnboundedSender<crate::outbound::Outgoing>);

    impl futures_util::Sink<Message> for Tap {
        type Error = WsError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
            let text = message.into_text().expect("a text frame").to_string();
            self.0.send(crate::outbound::Outgoing::Text(text)).map_err(|_| WsError::ConnectionClosed)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
    }

    fn outbound() -> (Outbound, tokio::sync::mpsc::UnboundedReceiver<crate::outbound::Outgoing>) {
        let (tap, rx) = tokio::sync::mpsc::unbounded_channel();
        let socket = crate::socket::Socket::new(Box::pin(Tap(tap)), 8);
        let (out, _closing) = Outbound::new(socket, Duration::from_secs(1), Duration::from_secs(1));
        (out, rx)
    }

    fn raw(value: Value) -> BuildParams<'static> {
        BuildParams::new(move |_, out| serde_json::to_writer(out, &value).unwrap())
    }

    fn sent_id(msg: crate::outbound::Outgoing) -> Id {
        let crate::outbound::Outgoing::Text(text) = msg else { panic!("a ping, not a request") };
        let v: Value = serde_json::from_str(&text).unwrap();
        serde_json::from_value(v["id"].clone()).unwrap()
    }

    #[test]
    fn a_request_is_one_json_rpc_object_with_its_params_in_place() {
        let text = request_text("cb-7", "tools.execute", raw(json!({"tool": "a\"b", "n": [1, 2]})));
        let request: Value = serde_json::from_str(&text).unwrap();
        let expected = json!({"jsonrpc": "2.0", "id": "cb-7", "method": "tools.execute",
            "params": {"tool": "a\"b", "n": [1, 2]}});
        assert_eq!(request, expected);
    }

    #[tokio::test]
    async fn reply_is_matched_by_id() {
        let broker = Broker::new();
        let (out, mut rx) = outbound();
        let call = broker.call(&out, "test.echo", raw(json!({"x": 1})), Duration::from_secs(5));
        let answer = async {
            let id = sent_id(rx.recv().await.unwrap());
            assert_eq!(id, Id::String("cb-1".into()));
            assert!(broker.complete(&id, Ok(json!("done"))));
        };
        let (result, ()) = tokio::join!(call, answer);
        assert_eq!(result.unwrap(), json!("done"));
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_drops_the_entry_and_a_late_reply_is_ignored() {
        let broker = Broker::new();
        let (out, mut rx) = outbound();
        let err = broker.call(&out, "test.slow", raw(json!({})), Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, CallError::Timeout { timeout_ms: 50, .. }), "{err:?}");
        let id = sent_id(rx.recv().await.unwrap());
        assert!(!broker.complete(&id, Ok(json!("late"))), "a late reply must find no waiter");
    }

    #[tokio::test]
    async fn close_fails_pending_and_future_calls() {
        let broker = Broker::new();
        let (out, mut rx) = outbound();
        let call = broker.call(&out, "test.wait", raw(json!({})), Duration::from_secs(60));
        let closer = async {
            rx.recv().await.unwrap();
            broker.close();
        };
        let (result, ()) = tokio::join!(call, closer);
        assert!(matches!(result, Err(CallError::Disconnected { .. })));
        let again = broker.call(&out, "test.wait", raw(json!({})), Duration::from_secs(60)).await;
        assert!(matches!(again, Err(CallError::Disconnected { .. })));
    }

    #[test]
    fn unknown_ids_find_no_waiter() {
        let broker = Broker::new();
        assert!(!broker.complete(&Id::String("cb-99".into()), Ok(Value::Null)));
        assert!(!broker.complete(&Id::String("nope".into()), Ok(Value::Null)));
        assert!(!broker.complete(&Id::Number(1), Ok(Value::Null)));
    }
}
