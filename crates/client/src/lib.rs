//! The Rust SDK for tether.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tether_client::ClientError> {
//! use tether_proto::server::Ping;
//! let client = tether_client::Client::builder("ws://127.0.0.1:9100")
//!     .token("…")
//!     .on_request("tools.execute", |params| async move { Ok(params) })
//!     .connect()
//!     .await?;
//! assert_eq!(client.call::<Ping>(Default::default()).await?, "pong");
//! # Ok(()) }
//! ```

mod connection;
mod harness;
pub mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tether_proto::server::{Handshake, HandshakeParams, HandshakeResult, PROTOCOL_VERSION};
use tether_proto::session::{Auth, AuthParams};
use tether_proto::{ErrorObject, Method};
use tokio::sync::{Mutex, mpsc};

pub use connection::Notification;
pub use harness::{Harness, HarnessOptions, ToolFn};

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, ErrorObject>> + Send>>;
pub(crate) type Handler = Arc<dyn Fn(Value) -> HandlerFuture + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect: {0}")]
    Connect(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("cannot connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("server error: {0}")]
    Rpc(ErrorObject),
    #[error("cannot connect over TLS: {0}")]
    Tls(String),
    #[error("the connection is closed")]
    Closed,
    #[error("unexpected result shape: {0}")]
    Decode(#[from] serde_json::Error),
}

impl ClientError {
    /// The JSON-RPC error code, when the server answered with an error.
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc(e) => Some(e.code),
            _ => None,
        }
    }
}

/// Whether a URL asks for TLS (`wss://`, case-insensitive as URL schemes are).
pub fn is_wss(url: &str) -> bool {
    url.get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss://"))
}

#[derive(Clone)]
enum Target {
    Url(String),
    Unix(PathBuf),
}

/// How the token reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer` (and `X-Tether-Agent` with an agent binding) on the
    /// upgrade request, the default: the connection never waits among unauthenticated
    /// ones, whose pool anyone who reaches the port can fill.
    Header,
    /// A `session.auth` first frame (what CAR clients do).
    Frame,
}

#[derive(Clone)]
pub struct ClientBuilder {
    target: Target,
    token: Option<String>,
    auth_mode: AuthMode,
    agent_id: Option<String>,
    handshake: bool,
    required_capabilities: Vec<String>,
    optional_capabilities: Vec<String>,
    handlers: HashMap<String, Handler>,
    ca_file: Option<PathBuf>,
}

impl ClientBuilder {
    /// For a `wss://` URL: also trust the CA certificates in this PEM file (a private
    /// CA), beside the platform's roots. See [`tls::client_config`].
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn auth_mode(mut self, mode: AuthMode) -> Self {
        self.auth_mode = mode;
        self
    }

    /// Binds the connection to this agent (`X-Tether-Agent` on the upgrade, or
    /// `session.auth`'s `agent_id` with [`AuthMode::Frame`]).
    pub fn agent_id(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// Asks for a capability in `server.handshake` without requiring it.
    pub fn optional_capability(mut self, capability: impl Into<String>) -> Self {
        self.optional_capabilities.push(capability.into());
        self
    }

    pub fn require_capability(mut self, capability: impl Into<String>) -> Self {
        self.required_capabilities.push(capability.into());
        self
    }

    /// Connect without `server.handshake` (only pre-handshake methods will work).
    pub fn skip_handshake(mut self) -> Self {
        self.handshake = false;
        self
    }

    /// Answers server → client requests named `method`.
    pub fn on_request<F, Fut>(mut self, method: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.handlers.insert(method.into(), Arc::new(move |params| Box::pin(handler(params))));
        self
    }

    pub async fn connect(self) -> Result<Client, ClientError> {
        let header = (self.auth_mode == AuthMode::Header)
            .then_some(connection::UpgradeAuth { token: self.token.as_deref(), agent_id: self.agent_id.as_deref() });
        let (sink, stream) = match &self.target {
            Target::Url(url) if is_wss(url) => {
                connection::open_tls(url, header, tls::client_config(self.ca_file.as_deref())?).await?
            }
            Target::Url(url) => connection::open_tcp(url, header).await?,
            Target::Unix(path) => connection::open_unix(path, header).await?,
        };
        let (link, notifications) = connection::spawn(sink, stream, self.handlers);
        let client = Client { link, notifications: Arc::new(Mutex::new(notifications)), handshake: None };
        if let (Some(token), AuthMode::Frame) = (self.token, self.auth_mode) {
            client.call::<Auth>(AuthParams { token, agent_id: self.agent_id }).await?;
        }
        if !self.handshake {
            return Ok(client);
        }
        let params = HandshakeParams {
            protocol_version: PROTOCOL_VERSION,
            protocol_version_min: None,
            client_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
            required_capabilities: self.required_capabilities,
            optional_capabilities: self.optional_capabilities,
        };
        let handshake = client.call::<Handshake>(params).await?;
        Ok(Client { handshake: Some(handshake), ..client })
    }
}

/// A connection to tether. Cheap to clone; every clone shares the socket.
#[derive(Clone)]
pub struct Client {
    link: connection::Link,
    notifications: Arc<Mutex<mpsc::UnboundedReceiver<Notification>>>,
    handshake: Option<HandshakeResult>,
}

impl Client {
    /// Connects to `ws://…` (or `wss://…`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        Self::builder_for(Target::Url(url.into()))
    }

    /// Connects over a Unix domain socket.
    pub fn builder_unix(path: impl Into<PathBuf>) -> ClientBuilder {
        Self::builder_for(Target::Unix(path.into()))
    }

    fn builder_for(target: Target) -> ClientBuilder {
        ClientBuilder {
            target,
            token: None,
            auth_mode: AuthMode::Header,
            agent_id: None,
            handshake: true,
            required_capabilities: Vec::new(),
            optional_capabilities: Vec::new(),
            handlers: HashMap::new(),
            ca_file: None,
        }
    }

    /// The server's answer to `server.handshake`, if one was made.
    pub fn handshake(&self) -> Option<&HandshakeResult> {
        self.handshake.as_ref()
    }

    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, ClientError> {
        let value = self.call_raw(M::NAME, serde_json::to_value(params)?).await?;
        Ok(serde_json::from_value(value)?)
    }

    pub async fn call_raw(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.link.call(method, params).await
    }

    pub fn notify(&self, method: &str, params: Value) -> Result<(), ClientError> {
        self.link.notify(method, params)
    }

    /// The next notification from the server; `None` once the connection is gone.
    pub async fn next_notification(&self) -> Option<Notification> {
        self.notifications.lock().await.recv().await
    }

    /// Closes the connection (a normal 1000 close).
    pub fn close(&self) {
        self.link.close();
    }

    /// The connection has ended.
    pub fn is_closed(&self) -> bool {
        self.link.is_closed()
    }

    /// Resolves when the connection has ended, whoever closed it.
    pub async fn closed(&self) {
        self.link.closed().await
    }
}
