//! `/mcp` on the daemon: rmcp's Streamable HTTP service behind tether's front door.
//!
//! The front door has authenticated the request; here each MCP call goes to the
//! daemon as a client of its own TCP listener, presenting the same bearer token. So an
//! MCP call passes exactly the authentication, access checks, limits and pools any
//! other client does, and there is no second path into the dispatcher. The loopback
//! clients are kept per token, at most [`MAX_CALLERS`] of them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::Value;
use tether_server::{McpEndpoint, McpRequest, McpResponse};
use tokio::sync::OnceCell;

use crate::backend::{Answer, Backend, Failure, Reply, ask_may_resolve};
use crate::server::{Caller, McpOptions, TetherMcp};

/// Loopback clients kept, one per distinct token; past it the oldest is closed.
pub const MAX_CALLERS: usize = 64;

pub struct HttpEndpoint {
    service: StreamableHttpService<TetherMcp, NeverSessionManager>,
    callers: Arc<Callers>,
}

impl HttpEndpoint {
    /// `daemon_url` is set once the listener is bound (the loopback clients dial it;
    /// `unix:<path>` is a Unix socket).
    pub fn new(options: McpOptions, daemon_url: Arc<OnceLock<String>>) -> HttpEndpoint {
        // Stateless for both protocol generations: nothing is kept between requests
        // (an agent cannot grow a session table), and each request names its caller.
        // The front door has checked Host and Origin already.
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .disable_allowed_hosts();
        let unbound: Arc<dyn Backend> = Arc::new(Unbound);
        let service = StreamableHttpService::new(
            move || Ok(TetherMcp::new(unbound.clone(), options.clone())),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        HttpEndpoint { service, callers: Arc::new(Callers { url: daemon_url, clients: Mutex::default() }) }
    }
}

impl McpEndpoint for HttpEndpoint {
    fn handle(&self, request: McpRequest) -> Pin<Box<dyn Future<Output = McpResponse> + Send>> {
        let service = self.service.clone();
        let caller = Caller(Arc::new(Pooled { callers: self.callers.clone(), token: request.token.clone() }));
        Box::pin(async move {
            let mut builder = http::Request::builder().method(request.method.as_str()).uri(request.path.as_str());
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            let Ok(mut http_request) = builder.body(Full::new(Bytes::from(request.body))) else {
                return text(400, "a request head http cannot carry\n");
            };
            http_request.extensions_mut().insert(caller);
            let response = service.handle(http_request).await;
            let (parts, body) = response.into_parts();
            let headers = parts
                .headers
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect();
            let body = body.into_data_stream().filter_map(|frame| async move { frame.ok().map(|b| b.to_vec()) });
            McpResponse { status: parts.status.as_u16(), headers, body: Box::pin(body) }
        })
    }
}

fn text(status: u16, body: &'static str) -> McpResponse {
    let headers = vec![("content-type".into(), "text/plain; charset=utf-8".into())];
    McpResponse { status, headers, body: Box::pin(futures_util::stream::iter([body.as_bytes().to_vec()])) }
}

/// The server instances rmcp makes never call their own backend over HTTP: each
/// request carries its [`Caller`].
struct Unbound;

impl Backend for Unbound {
    fn call(&self, _method: &'static str, _params: Value) -> Reply<'_> {
        Box::pin(async { Err(Failure::Unavailable("an MCP request without a caller".into())) })
    }
}

struct Callers {
    url: Arc<OnceLock<String>>,
    clients: Mutex<HashMap<Option<String>, Kept>>,
}

/// A loopback client, when it was made (the oldest goes first), and whether its
/// identity may resolve approvals (asked once per token).
struct Kept {
    stamp: u64,
    client: tether_client::Client,
    resolves: Arc<OnceCell<bool>>,
}

impl Callers {
    async fn client(&self, token: &Option<String>) -> Result<(tether_client::Client, Arc<OnceCell<bool>>), Failure> {
        if let Some(kept) = self.clients.lock().expect("not poisoned").get(token) {
            return Ok((kept.client.clone(), kept.resolves.clone()));
        }
        let url = self.url.get().ok_or_else(|| Failure::Unavailable("the daemon is still starting".into()))?;
        let mut builder = match url.strip_prefix("unix:") {
            Some(path) => tether_client::Client::builder_unix(path),
            None => tether_client::Client::builder(url.as_str()),
        };
        if let Some(token) = token {
            builder = builder.token(token.as_str());
        }
        let client = builder.connect().await.map_err(|e| Failure::Unavailable(e.to_string()))?;
        let mut clients = self.clients.lock().expect("not poisoned");
        let stamp = clients.values().map(|kept| kept.stamp).max().unwrap_or(0) + 1;
        if clients.len() >= MAX_CALLERS
            && let Some(oldest) = clients.iter().min_by_key(|(_, kept)| kept.stamp).map(|(k, _)| k.clone())
        {
            clients.remove(&oldest);
        }
        let resolves = Arc::new(OnceCell::new());
        clients.insert(token.clone(), Kept { stamp, client: client.clone(), resolves: resolves.clone() });
        Ok((client, resolves))
    }

    fn forget(&self, token: &Option<String>) {
        self.clients.lock().expect("not poisoned").remove(token);
    }
}

/// A caller: the loopback client for its token.
struct Pooled {
    callers: Arc<Callers>,
    token: Option<String>,
}

impl Backend for Pooled {
    fn call(&self, method: &'static str, params: Value) -> Reply<'_> {
        Box::pin(async move {
            let (client, _) = self.callers.client(&self.token).await?;
            let answer = Backend::call(&client, method, params).await;
            if matches!(answer, Err(Failure::Unavailable(_))) {
                // A broken connection (the daemon closed it): dial again next time.
                self.callers.forget(&self.token);
            }
            answer
        })
    }

    fn may_resolve(&self) -> Answer<'_> {
        Box::pin(async move {
            let Ok((client, resolves)) = self.callers.client(&self.token).await else { return false };
            resolves.get_or_try_init(|| ask_may_resolve(&client)).await.copied().unwrap_or(false)
        })
    }
}
