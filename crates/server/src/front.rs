//! The front door of every accepted stream: route plain HTTP, check and perform
//! the WebSocket upgrade, then hand the socket to the dispatcher.

use std::sync::Arc;

use futures_util::StreamExt;
use tether_core::{ConnectionOptions, Grant, Principal, serve_connection};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::credential::{self, Proven};
use crate::http::{self, HeadError, RequestHead};
use crate::listener::Shared;
use crate::pools::{Gate, Metered, Pool, Slot};

/// Room for WebSocket framing (headers, a pong) on top of `limits.max_preauth_bytes`.
const FRAMING_SLACK: usize = 1024;

/// Where a stream came from; decides which browser checks apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Unix,
}

/// Serves one accepted stream. What comes before a WebSocket is served (the head,
/// an HTTP answer, MCP, the upgrade) runs boxed and is freed when done: inline, its
/// largest state would size the connection's task for as long as it stays open. (Not
/// an `async fn`, which would keep the stream's place, 1.2 KiB for TLS, beside it.)
pub(crate) fn handle<S>(
    stream: S,
    transport: Transport,
    shared: Arc<Shared>,
    pending: Slot,
) -> impl Future<Output = ()> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let door = {
        let shared = shared.clone();
        Box::pin(async move { front_door(stream, transport, &shared, pending).await })
    };
    async move {
        let Some((ws, options)) = door.await else { return };
        let (sink, stream) = ws.split();
        serve_connection(stream, sink, shared.registry.clone(), options).await;
    }
}

/// Answers a stream that is not a WebSocket; for one that is, checks and performs the
/// upgrade and gives back the WebSocket and how to serve it.
async fn front_door<S>(
    mut stream: S,
    transport: Transport,
    shared: &Arc<Shared>,
    pending: Slot,
) -> Option<(WebSocketStream<Metered<S>>, ConnectionOptions)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let head_timeout = shared.config.connection.limits.head_timeout();
    let read = tokio::time::timeout(head_timeout, http::read_head(&mut stream)).await;
    drop(pending);
    let (head, leftover) = match read {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(HeadError::TooLarge)) => {
            return done(http::respond_text(&mut stream, 431, "request head too large\n").await);
        }
        Ok(Err(HeadError::Malformed(e))) => {
            return done(http::respond_text(&mut stream, 400, &format!("malformed request: {e}\n")).await);
        }
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "dropped a stream before its request head");
            return None;
        }
        Err(_) => {
            tracing::debug!("dropped a stream that sent no request head in time");
            return None;
        }
    };
    if head.method == "POST" && (head.path == "/hooks" || head.path.starts_with("/hooks?")) {
        return done(post_hooks(&mut stream, &head, leftover, transport, shared).await);
    }
    if crate::mcp::is_mcp(&head) {
        return done(crate::mcp::serve(&mut stream, &head, leftover, transport, shared).await);
    }
    if !head.is_websocket_upgrade() {
        return done(plain_http(&mut stream, &head, transport, shared).await);
    }
    let proven = match check_upgrade(&head, transport, shared) {
        Ok(proven) => proven,
        Err((status, why)) => {
            tracing::debug!(status, why, "refused a WebSocket upgrade");
            return done(http::respond_text(&mut stream, status, &format!("{why}\n")).await);
        }
    };
    let grant = proven.grant;
    let gate = match admit(shared, grant.is_some(), transport) {
        Ok(gate) => gate,
        Err(full) => {
            let hint = if Arc::ptr_eq(full, shared.unauthenticated.of(transport)) {
                "; authenticate at the upgrade instead (an `Authorization: Bearer` header, \
                 or a `tether.bearer.<base64url>` subprotocol)"
            } else {
                ""
            };
            let why = format!("too many connections ({} = {}){hint}\n", full.limit, full.max());
            return done(http::respond_text(&mut stream, 503, &why).await);
        }
    };
    let key = head.header("sec-websocket-key").unwrap_or_default();
    // A client that offered `tether.v1` (a browser passing its credential as a protocol
    // value must) gets it back; one that offered none gets no protocol header, as before.
    let protocol = proven.protocol.map(|p| format!("sec-websocket-protocol: {p}\r\n")).unwrap_or_default();
    let accept = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n{protocol}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if stream.write_all(accept.as_bytes()).await.is_err() {
        return None;
    }
    let stream = Metered { inner: stream, gate: gate.clone() };
    let ws = WebSocketStream::from_partially_read(stream, leftover, Role::Server, Some(ws_config(shared))).await;
    let credential = grant.as_ref().and_then(|g| g.credential.clone());
    let lifetime = grant.as_ref().and_then(|g| g.lifetime.clone());
    let options = ConnectionOptions {
        config: shared.connection_config.clone(),
        read_only: grant.as_ref().is_some_and(|g| g.read_only),
        credential,
        lifetime,
        principal: grant.map(Grant::principal),
        authenticator: shared.config.authenticator.clone(),
        shutdown: shared.shutdown.subscribe(),
        admission: Some(gate),
    };
    Some((ws, options))
}

/// The stream got its answer (or none): nothing is left to serve.
fn done<T, U>(_answered: T) -> Option<U> {
    None
}

/// A place for a new WebSocket: among the authenticated connections when it is
/// already authenticated (bearer header, or auth off), else among those waiting
/// for `session.auth`, metered until then. `Err` names the pool that is full.
pub(crate) fn admit(shared: &Shared, authenticated: bool, transport: Transport) -> Result<Arc<Gate>, &Arc<Pool>> {
    let (connections, census, tcp) = (shared.connections.clone(), shared.census.clone(), transport == Transport::Tcp);
    if authenticated || shared.config.authenticator.is_none() {
        let slot = shared.connections.try_acquire().ok_or(&shared.connections)?;
        return Ok(Gate::open(slot, connections, census, tcp));
    }
    let budget = shared.config.connection.limits.max_preauth_bytes + FRAMING_SLACK;
    let unauthenticated = shared.unauthenticated.of(transport);
    let slot = unauthenticated.try_acquire().ok_or(unauthenticated)?;
    Ok(Gate::closed(slot, connections, budget, census, tcp))
}

fn ws_config(shared: &Shared) -> WebSocketConfig {
    let limits = &shared.config.connection.limits;
    WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(limits.write_buffer_bytes)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_frame_bytes))
}

/// Browser and auth checks on an upgrade. Ok carries what its credential proved.
fn check_upgrade(head: &RequestHead, transport: Transport, shared: &Shared) -> Result<Proven, (u16, String)> {
    check_browser(head, transport, shared)?;
    if head.header("sec-websocket-version") != Some("13") {
        return Err((426, "sec-websocket-version must be 13".to_owned()));
    }
    if head.header("sec-websocket-key").is_none_or(str::is_empty) {
        return Err((400, "missing sec-websocket-key".to_owned()));
    }
    credential::prove(head, shared.config.authenticator.as_deref(), shared.config.connection.limits.names.agent)
}

/// Origin against the allowlist (plus the daemon's own origin when it serves the
/// console), and Host on a loopback bind (DNS rebinding).
pub(crate) fn check_browser(head: &RequestHead, transport: Transport, shared: &Shared) -> Result<(), (u16, String)> {
    if let Some(origin) = head.header("origin")
        && !shared.config.allowed_origins.iter().any(|allowed| allowed == origin)
        && !(shared.config.console.is_some() && is_own_origin(origin, head, shared.tls))
    {
        return Err((403, format!("origin {origin:?} is not allowed (allowed_origins)")));
    }
    if transport == Transport::Tcp && shared.loopback_only {
        let host = head.header("host").ok_or((400, "missing Host header".to_owned()))?;
        if !http::is_loopback_host(host) {
            return Err((403, format!("host {host:?} is not a loopback name or address")));
        }
    }
    Ok(())
}

/// A page this daemon served: its origin is this request's own scheme, host and port.
/// (A page elsewhere, even on the same host, has another port and so another origin.)
fn is_own_origin(origin: &str, head: &RequestHead, tls: bool) -> bool {
    let scheme = if tls { "https://" } else { "http://" };
    head.header("host").is_some_and(|host| origin.strip_prefix(scheme) == Some(host))
}

/// What a request's credential proves (see `credential::prove`); `None` without one.
pub(crate) fn bearer(head: &RequestHead, shared: &Shared) -> Result<Option<Grant>, (u16, String)> {
    credential::prove(head, shared.config.authenticator.as_deref(), shared.config.connection.limits.names.agent)
        .map(|proven| proven.grant)
}

/// `POST /hooks`: needs a bearer token (unless auth is off); the body is a Claude Code
/// hook payload and the reply body its `hook_output`.
async fn post_hooks<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    head: &RequestHead,
    leftover: Vec<u8>,
    transport: Transport,
    shared: &Shared,
) -> std::io::Result<()> {
    let Some(endpoint) = &shared.config.hooks else {
        return refuse(stream, 404, "no hooks endpoint").await;
    };
    let principal = match check_browser(head, transport, shared).and_then(|()| bearer(head, shared)) {
        Ok(Some(grant)) if grant.read_only => {
            return refuse(stream, 403, "POST /hooks needs a credential that may write").await;
        }
        Ok(Some(grant)) => grant.principal(),
        Ok(None) if shared.config.authenticator.is_none() => Principal::Operator,
        Ok(None) => {
            return refuse(stream, 401, "POST /hooks needs `Authorization: Bearer <token>`").await;
        }
        Err((status, why)) => return refuse(stream, status, &why).await,
    };
    let limit = shared.config.connection.limits.max_message_bytes;
    let length = match http::content_length(head) {
        Ok(Some(n)) => n,
        Ok(None) => return refuse(stream, 411, "POST /hooks needs a Content-Length").await,
        Err(why) => return refuse(stream, 400, &format!("ambiguous body framing: {why}")).await,
    };
    let wait_ms = match crate::hook_body::wait_ms(head) {
        Ok(wait) => wait,
        Err(why) => return refuse(stream, 400, &why).await,
    };
    let head_timeout = shared.config.connection.limits.head_timeout();
    // Every hook is answered 200 with Claude Code's JSON, a permission one with a
    // decision (see `hook_body`); 4xx is kept for what is not a hook at all.
    let mut value = match crate::hook_body::read(stream, leftover, length, limit, head_timeout).await {
        crate::hook_body::HookBody::Whole(value) => value,
        crate::hook_body::HookBody::Bounded(mut form, why) => {
            form.insert("bounded".into(), why.into());
            serde_json::Value::Object(form)
        }
        crate::hook_body::HookBody::NotAHook(status, why) => return refuse(stream, status, &why).await,
    };
    if let Some(wait) = wait_ms {
        value["wait_ms"] = wait.into();
    }
    if let (Some(traceparent), Some(map)) = (head.header("traceparent"), value.as_object_mut()) {
        map.insert("traceparent".into(), traceparent.into());
    }
    // A hook that waits on an approval waits only as long as its client does: Claude
    // Code closes the request at its hook timeout, and the approval is then abandoned.
    let handled = endpoint.handle(principal, value);
    tokio::pin!(handled);
    let mut probe = [0u8; 256];
    let answer = loop {
        tokio::select! {
            answer = &mut handled => break answer,
            read = stream.read(&mut probe) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
        }
    };
    match answer {
        Ok(output) => http::respond(stream, 200, "application/json", &output.to_string()).await,
        Err(why) => refuse(stream, 400, &why).await,
    }
}

/// Every refusal of `POST /hooks` has one shape, `{"error": why}`, whatever refused it.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, status: u16, why: &str) -> std::io::Result<()> {
    http::respond(stream, status, "application/json", &serde_json::json!({ "error": why }).to_string()).await
}

async fn plain_http<S: AsyncWrite + Unpin>(
    stream: &mut S,
    head: &RequestHead,
    transport: Transport,
    shared: &Shared,
) -> std::io::Result<()> {
    if let Some(site) = &shared.config.console
        && head.method == "GET"
        && transport == Transport::Tcp
    {
        if let Err((status, why)) = check_browser(head, transport, shared) {
            return http::respond_text(stream, status, &format!("{why}\n")).await;
        }
        if let Some(served) = crate::console::serve(stream, head, site.as_ref(), shared.tls).await {
            return served;
        }
    }
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/healthz") => {
            // A page on a foreign origin (DNS rebinding) may not read even this.
            if let Err((status, why)) = check_browser(head, transport, shared) {
                return http::respond_text(stream, status, &format!("{why}\n")).await;
            }
            let problems = shared.config.health.as_ref().map(|h| h.problems()).unwrap_or_default();
            let store = shared.config.health.as_ref().map(|h| h.store()).unwrap_or_default();
            let (status, state) = if problems.is_empty() { (200, "ok") } else { (503, "degraded") };
            let body = serde_json::json!({
                "status": state,
                "problems": problems,
                "version": tether_core::SERVER_VERSION,
                "uptime_s": shared.started.elapsed().as_secs(),
                "connections": shared.connection_count(),
                "unauthenticated": shared.unauthenticated.count(),
                "store": store,
            });
            http::respond(stream, status, "application/json", &body.to_string()).await
        }
        ("GET", "/metrics") if shared.config.metrics.is_some() => {
            if let Err((status, why)) = check_browser(head, transport, shared) {
                return http::respond_text(stream, status, &format!("{why}\n")).await;
            }
            if shared.config.metrics_auth && shared.config.authenticator.is_some() {
                match bearer(head, shared) {
                    Ok(Some(grant)) if grant.agent_id.is_none() => {}
                    Ok(Some(_)) => return http::respond_text(stream, 403, "/metrics is for the operator\n").await,
                    Ok(None) => {
                        let why = "/metrics needs `Authorization: Bearer <token>` (or metrics_auth = false)\n";
                        return http::respond_text(stream, 401, why).await;
                    }
                    Err((status, why)) => return http::respond_text(stream, status, &format!("{why}\n")).await,
                }
            }
            let mut connections = shared.census.counts();
            connections.push(("pending", "tcp", shared.pending.tcp.count()));
            connections.push(("pending", "unix", shared.pending.unix.count()));
            let openmetrics = head.headers("accept").any(|accept| accept.contains("application/openmetrics-text"));
            let (text, content_type) =
                shared.config.metrics.as_ref().expect("checked above").render(connections, openmetrics);
            http::respond(stream, 200, content_type, &text).await
        }
        _ => http::respond_text(
            stream,
            404,
            "not found: tether serves WebSocket upgrades, GET /healthz, GET /metrics, POST /hooks, /mcp and GET /console/\n",
        )
        .await,
    }
}
