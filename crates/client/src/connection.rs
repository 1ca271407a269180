//! The socket behind a `Client`: a reader task that routes replies, requests and
//! notifications, and a writer task that owns the sink.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tether_proto::jsonrpc::{Id, Outcome, Request, Response, Version};
use tether_proto::{ErrorObject, codes};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Request as HttpRequest};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::{ClientError, Handler};

type BoxSink = Pin<Box<dyn Sink<Message, Error = WsError> + Send>>;
type BoxStream = Pin<Box<dyn Stream<Item = Result<Message, WsError>> + Send>>;
type Pending = Arc<Mutex<Option<HashMap<i64, oneshot::Sender<Result<Value, ErrorObject>>>>>>;

/// A notification from the server.
#[derive(Debug, Clone)]
pub struct Notification {
    pub method: String,
    pub params: Value,
}

/// What the upgrade request carries to authenticate (header auth).
#[derive(Clone, Copy)]
pub(crate) struct UpgradeAuth<'a> {
    pub(crate) token: Option<&'a str>,
    pub(crate) agent_id: Option<&'a str>,
}

pub(crate) async fn open_tcp(url: &str, auth: Option<UpgradeAuth<'_>>) -> Result<(BoxSink, BoxStream), ClientError> {
    // Small request/reply frames must not wait on Nagle.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(upgrade_request(url, auth)?, None, true).await?;
    let (sink, stream) = ws.split();
    Ok((Box::pin(sink), Box::pin(stream)))
}

pub(crate) async fn open_tls(
    url: &str,
    auth: Option<UpgradeAuth<'_>>,
    config: Arc<rustls::ClientConfig>,
) -> Result<(BoxSink, BoxStream), ClientError> {
    let connector = tokio_tungstenite::Connector::Rustls(config);
    let (ws, _) =
        tokio_tungstenite::connect_async_tls_with_config(upgrade_request(url, auth)?, None, true, Some(connector))
            .await?;
    let (sink, stream) = ws.split();
    Ok((Box::pin(sink), Box::pin(stream)))
}

pub(crate) async fn open_unix(path: &Path, auth: Option<UpgradeAuth<'_>>) -> Result<(BoxSink, BoxStream), ClientError> {
    let socket = tokio::net::UnixStream::connect(path).await?;
    let (ws, _) = tokio_tungstenite::client_async(upgrade_request("ws://localhost/", auth)?, socket).await?;
    let (sink, stream) = ws.split();
    Ok((Box::pin(sink), Box::pin(stream)))
}

/// The upgrade request, with `Authorization: Bearer` and `X-Tether-Agent` when header
/// auth is chosen.
fn upgrade_request(url: &str, auth: Option<UpgradeAuth<'_>>) -> Result<HttpRequest<()>, ClientError> {
    let mut request = url.into_client_request()?;
    let header = |value: &str| HeaderValue::from_str(value).map_err(|e| ClientError::Connect(e.into()));
    if let Some(token) = auth.and_then(|a| a.token) {
        request.headers_mut().insert("authorization", header(&format!("Bearer {token}"))?);
    }
    if let Some(agent_id) = auth.and_then(|a| a.agent_id) {
        request.headers_mut().insert("x-tether-agent", header(agent_id)?);
    }
    Ok(request)
}

#[derive(Clone)]
pub(crate) struct Link {
    next_id: Arc<AtomicI64>,
    pending: Pending,
    outgoing: mpsc::UnboundedSender<Message>,
    alive: watch::Receiver<bool>,
}

pub(crate) fn spawn(
    sink: BoxSink,
    stream: BoxStream,
    handlers: HashMap<String, Handler>,
) -> (Link, mpsc::UnboundedReceiver<Notification>) {
    let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
    let (notify_tx, notify_rx) = mpsc::unbounded_channel();
    let (alive_tx, alive) = watch::channel(true);
    let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
    tokio::spawn(write_loop(sink, outgoing_rx));
    let reader = Reader { pending: pending.clone(), outgoing: outgoing.clone(), handlers, notify_tx };
    tokio::spawn(async move {
        reader.run(stream).await;
        alive_tx.send_replace(false);
    });
    (Link { next_id: Arc::new(AtomicI64::new(1)), pending, outgoing, alive }, notify_rx)
}

impl Link {
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().as_mut().ok_or(ClientError::Closed)?.insert(id, tx);
        let request =
            Request { jsonrpc: Version, id: Some(Id::Number(id)), method: method.to_owned(), params: Some(params) };
        self.send(&request)?;
        match rx.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(ClientError::Rpc(error)),
            Err(_) => Err(ClientError::Closed),
        }
    }

    pub(crate) fn notify(&self, method: &str, params: Value) -> Result<(), ClientError> {
        self.send(&Request { jsonrpc: Version, id: None, method: method.to_owned(), params: Some(params) })
    }

    fn send<T: serde::Serialize>(&self, message: &T) -> Result<(), ClientError> {
        let text = serde_json::to_string(message)?;
        self.outgoing.send(Message::Text(text.into())).map_err(|_| ClientError::Closed)
    }

    pub(crate) fn close(&self) {
        let _ = self.outgoing.send(Message::Close(None));
    }

    pub(crate) fn is_closed(&self) -> bool {
        !*self.alive.borrow()
    }

    pub(crate) async fn closed(&self) {
        let mut alive = self.alive.clone();
        let _ = alive.wait_for(|alive| !alive).await;
    }
}

async fn write_loop(mut sink: BoxSink, mut outgoing: mpsc::UnboundedReceiver<Message>) {
    while let Some(message) = outgoing.recv().await {
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}

struct Reader {
    pending: Pending,
    outgoing: mpsc::UnboundedSender<Message>,
    handlers: HashMap<String, Handler>,
    notify_tx: mpsc::UnboundedSender<Notification>,
}

impl Reader {
    async fn run(self, mut stream: BoxStream) {
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            match serde_json::from_str::<Value>(text.as_str()) {
                Ok(Value::Array(items)) => items.into_iter().for_each(|item| self.route(item)),
                Ok(item) => self.route(item),
                Err(e) => tracing::warn!(error = %e, "server sent invalid JSON"),
            }
        }
        // Every call still waiting fails now.
        self.pending.lock().take();
    }

    fn route(&self, item: Value) {
        if item.get("method").is_none() {
            return self.complete(item);
        }
        let Ok(request) = serde_json::from_value::<Request>(item) else {
            return;
        };
        let params = request.params.unwrap_or(Value::Null);
        let Some(id) = request.id else {
            let _ = self.notify_tx.send(Notification { method: request.method, params });
            return;
        };
        let outgoing = self.outgoing.clone();
        let handler = self.handlers.get(&request.method).cloned();
        tokio::spawn(async move {
            let outcome = match handler {
                Some(handler) => handler(params).await,
                None => Err(ErrorObject::new(codes::METHOD_NOT_FOUND, format!("no handler for {}", request.method))),
            };
            let response = match outcome {
                Ok(result) => Response::result(id, result),
                Err(error) => Response::error(Some(id), error),
            };
            let text = serde_json::to_string(&response).unwrap_or_else(|e| json!({"error": e.to_string()}).to_string());
            let _ = outgoing.send(Message::Text(text.into()));
        });
    }

    fn complete(&self, item: Value) {
        let Ok(response) = serde_json::from_value::<Response>(item) else {
            return;
        };
        let Some(Id::Number(id)) = response.id else {
            return;
        };
        let waiter = self.pending.lock().as_mut().and_then(|p| p.remove(&id));
        if let Some(waiter) = waiter {
            let _ = waiter.send(match response.outcome {
                Outcome::Result(value) => Ok(value),
                Outcome::Error(error) => Err(error),
            });
        }
    }
}
