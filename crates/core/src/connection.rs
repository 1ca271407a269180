//! Driving one connection: a read loop, a writer task (`socket.rs`), keepalive, and closing.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{Sink, Stream, StreamExt};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior, Sleep, interval_at, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::Instrument;

use crate::auth::{Authenticator, Credential, Lifetime, Principal};
use crate::broker::Broker;
use crate::context::{ConnState, Context, InFlight};
use crate::dispatch::{Dispatcher, Flow, Route};
use crate::error::RpcError;
use crate::limits::ConnectionConfig;
use crate::outbound::{Closing, Outbound, Outgoing};
use crate::registry::Registry;
use crate::socket::Socket;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// Whether the server is stopping, and how it tells its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shutdown {
    #[default]
    Running,
    /// Going away for good (SIGINT): close 1001.
    Away,
    /// Restarting (SIGTERM, as service managers stop a service to start it again):
    /// close 1012, so clients reconnect at once and keep retrying while it is down.
    Restart,
}

impl From<()> for Shutdown {
    fn from((): ()) -> Shutdown {
        Shutdown::Away
    }
}

pub struct ConnectionOptions {
    pub config: Arc<ConnectionConfig>,
    /// Set when the transport already authenticated the peer (e.g. a bearer header).
    pub principal: Option<Principal>,
    /// The preset principal's credential allows only read methods.
    pub read_only: bool,
    /// `None` disables authentication: the connection is the operator from the start.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Turns true when the server shuts down; the connection then closes with 1001.
    pub shutdown: watch::Receiver<Shutdown>,
    /// Asked when the connection authenticates by `session.auth`.
    pub admission: Option<Arc<dyn Admission>>,
    /// Issued when the transport authenticated the peer with a single-use token (a
    /// console login code): `server.handshake` hands it to the client.
    pub credential: Option<Credential>,
    /// The preset principal's credential ends (a console session): see `Lifetime`.
    pub lifetime: Option<Lifetime>,
}

/// How a transport admits a connection that has just authenticated by frame:
/// typically it moves it from the pool of unauthenticated connections into the
/// authenticated one, which may be full.
pub trait Admission: Send + Sync + 'static {
    fn admit(&self) -> Result<(), RpcError>;
}

/// Serves one WebSocket connection until either side closes it. The connection's
/// state is made now, and the future holds only what the connection's life needs (an
/// `async fn` would keep its arguments beside it for as long as it is open).
pub fn serve_connection<S, K>(
    stream: S,
    sink: K,
    registry: Arc<Registry>,
    options: ConnectionOptions,
) -> impl Future<Output = ()> + Send + 'static
where
    S: Stream<Item = Result<Message, WsError>> + Unpin + Send + 'static,
    K: Sink<Message, Error = WsError> + Unpin + Send + 'static,
{
    let config = options.config;
    let socket = Socket::new(Box::pin(sink), config.limits.outbound_queue);
    let (outbound, closing) = Outbound::new(socket.clone(), config.limits.stall_timeout(), config.close_timeout);
    // Without auth, a connection is the operator from its first frame that is not
    // `session.auth` (which may still bind it to an agent): see `Dispatcher::on_text`.
    let preset = std::sync::OnceLock::new();
    if let Some(principal) = options.principal {
        let _ = preset.set(principal);
    }
    let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    let conn = Arc::new(ConnState {
        id,
        registry,
        authenticator: options.authenticator,
        principal: preset,
        read_only: AtomicBool::new(options.read_only),
        admission: options.admission,
        issued: options.credential,
        lifetime: Mutex::new(options.lifetime),
        handshake_done: AtomicBool::new(false),
        capabilities: Mutex::new(Arc::from(Vec::new())),
        connection: crate::caller::Connection::new(id),
        outbound: outbound.clone(),
        broker: Broker::new(),
        in_flight: InFlight::default(),
        close_after_reply: parking_lot::Mutex::new(None),
        names: config.limits.names.clone(),
    });
    let span = tracing::debug_span!("conn", id = conn.id);
    drive(stream, socket, conn, outbound, closing, options.shutdown, config).instrument(span)
}

#[allow(clippy::too_many_arguments)]
async fn drive<S>(
    stream: S,
    socket: Arc<Socket>,
    conn: Arc<ConnState>,
    outbound: Outbound,
    closing: watch::Receiver<Option<Closing>>,
    shutdown: watch::Receiver<Shutdown>,
    config: Arc<ConnectionConfig>,
) where
    S: Stream<Item = Result<Message, WsError>> + Unpin + Send + 'static,
{
    tracing::debug!("connection opened");
    let dispatcher = Dispatcher { cx: Context { conn: conn.clone() }, config: config.clone() };
    let mut stream = stream;
    read_loop(&mut stream, &dispatcher, &outbound, closing.clone(), shutdown, &config).await;

    // The client is gone (a fact the domains are handed, and their per-connection
    // states drop), before any pending call to it fails, so a handler whose call
    // fails already sees why. Every pending server → client call fails now, not at
    // its timeout.
    conn.connection.close();
    conn.broker.close();
    for hook in &conn.registry.close_hooks {
        hook(conn.id);
    }
    drop(dispatcher);
    drop(outbound);
    let mut writer = socket.take_writer().expect("set when the connection was served");
    let local_close = matches!(*closing.borrow(), Some(Closing::Local(_)));
    let finish = async {
        // The closing handshake: after our Close, read until the peer's, so our
        // last frames are not lost to a reset.
        let drain = async {
            if local_close {
                while let Some(Ok(message)) = stream.next().await {
                    if message.is_close() {
                        break;
                    }
                }
            }
        };
        let _ = tokio::join!(&mut writer, drain);
    };
    if timeout(config.close_timeout + Duration::from_millis(100), finish).await.is_err() {
        writer.abort();
    }
    tracing::debug!("connection closed");
}

async fn read_loop<S>(
    stream: &mut S,
    dispatcher: &Dispatcher,
    outbound: &Outbound,
    mut closing: watch::Receiver<Option<Closing>>,
    mut shutdown: watch::Receiver<Shutdown>,
    config: &ConnectionConfig,
) where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let keepalive = &config.keepalive;
    let period = Duration::from_millis(keepalive.interval_ms.max(1));
    let idle_limit = Duration::from_millis(keepalive.timeout_ms);
    let mut ticker = interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let limits = &config.limits;
    // Boxed, and dropped once met: a connection that authenticated and did its
    // handshake keeps neither timer for the rest of its life.
    let mut auth_deadline = Some(Box::pin(sleep_until(last_heard + Duration::from_millis(limits.auth_timeout_ms))));
    let mut handshake_deadline =
        Some(Box::pin(sleep_until(last_heard + Duration::from_millis(limits.handshake_timeout_ms))));
    let cx = &dispatcher.cx;
    // Known at the upgrade, or once `session.auth` (run inline, below) authenticated.
    let mut lifetime = cx.conn.lifetime.lock().clone();
    // Made once, not per frame: each registers a waiter (and `over` a timer).
    let closed = closing.changed();
    let stop = stopped(&mut shutdown);
    let ended = over(lifetime.clone());
    tokio::pin!(closed, stop, ended);

    // The frame after the one being handled, when it had arrived already (see `ahead`).
    let mut next: Option<Option<Result<Message, WsError>>> = None;
    loop {
        if auth_deadline.is_some() && cx.is_authenticated() {
            auth_deadline = None;
        }
        if handshake_deadline.is_some() && cx.conn.handshake_done.load(Ordering::Acquire) {
            handshake_deadline = None;
        }
        let frame = tokio::select! {
            biased;
            _ = &mut closed => return,
            how = &mut stop => {
                match how {
                    Shutdown::Restart => outbound.close(CloseCode::Restart, "server restarting"),
                    _ => outbound.close(CloseCode::Away, "server shutting down"),
                }
                return;
            }
            // Nobody may hold a connection without proving who they are. (Each
            // condition is checked again when its deadline fires: the handshake runs
            // on its own task and may have finished while this select was waiting.)
            () = passed(&mut auth_deadline) => {
                if !cx.is_authenticated() {
                    tracing::debug!("no session.auth before limits.auth_timeout_ms");
                    outbound.close(CloseCode::Policy, "authentication timeout (limits.auth_timeout_ms)");
                    return;
                }
                continue;
            }
            () = passed(&mut handshake_deadline) => {
                if !cx.conn.handshake_done.load(Ordering::Acquire) {
                    tracing::debug!("no server.handshake before limits.handshake_timeout_ms");
                    outbound.close(CloseCode::Policy, "handshake timeout (limits.handshake_timeout_ms)");
                    return;
                }
                continue;
            }
            // An expiring credential (a console session) ended: so does every
            // connection it opened, even one that keeps sending.
            () = &mut ended, if lifetime.is_some() => {
                tracing::debug!("the connection's credential expired or was ended");
                outbound.close(CloseCode::Policy, "credential expired, logged out or revoked");
                return;
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() >= idle_limit {
                    tracing::debug!("peer silent past keepalive.timeout_ms");
                    outbound.close(CloseCode::Away, "keepalive timeout: peer silent too long (keepalive.timeout_ms)");
                    return;
                }
                outbound.try_send(Outgoing::Ping);
                continue;
            }
            // After every check above, as a frame read now would be.
            () = std::future::ready(()), if next.is_some() => next.take().expect("checked"),
            frame = stream.next() => frame,
        };
        last_heard = Instant::now();
        match frame {
            Some(Ok(Message::Text(text))) => {
                // Answered at once if no later frame has arrived, else through the
                // writer, which batches a pipelined burst's answers into one write.
                next = if cx.is_authenticated() { ahead(stream) } else { None };
                let route = if next.is_some() { Route::Queue } else { Route::Direct };
                if dispatcher.on_text(text.as_str(), route).await == Flow::Close {
                    return;
                }
                if lifetime.is_none() {
                    lifetime = cx.conn.lifetime.lock().clone();
                    if lifetime.is_some() {
                        ended.set(over(lifetime.clone()));
                    }
                }
            }
            Some(Ok(Message::Binary(_))) => {
                outbound.close(CloseCode::Unsupported, "binary frames are not supported: send JSON-RPC as text");
                return;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
            Some(Ok(Message::Close(_))) | None => {
                outbound.set_closing(Closing::Peer);
                return;
            }
            Some(Err(error)) => {
                let (code, reason) = close_for(&error, &config.limits);
                tracing::debug!(%error, "closing after a transport error");
                match code {
                    Some(code) => outbound.close(code, &reason),
                    None => outbound.set_closing(Closing::Peer),
                }
                return;
            }
        }
    }
}

/// The next frame if it has arrived already (in the stream's buffer or the socket's),
/// without waiting. Polled with a waker that does nothing: the read loop polls the
/// stream with its own again before it waits, so no wake-up is lost.
fn ahead<S>(stream: &mut S) -> Option<Option<Result<Message, WsError>>>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match stream.poll_next_unpin(&mut cx) {
        std::task::Poll::Ready(frame) => Some(frame),
        std::task::Poll::Pending => None,
    }
}

/// The close code a transport error deserves; `None` when the peer is already gone.
fn close_for(error: &WsError, limits: &crate::Limits) -> (Option<CloseCode>, String) {
    match error {
        // tungstenite reports an oversized frame and an oversized message alike; the cap tells which.
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            let limit = if *max_size == limits.max_frame_bytes && *max_size != limits.max_message_bytes {
                "limits.max_frame_bytes"
            } else {
                "limits.max_message_bytes"
            };
            (Some(CloseCode::Size), format!("{size} bytes exceeds {limit} = {max_size}"))
        }
        WsError::Capacity(e) => (Some(CloseCode::Size), e.to_string()),
        WsError::Utf8(_) => (Some(CloseCode::Invalid), "text frame is not valid UTF-8".into()),
        WsError::Protocol(e) => (Some(CloseCode::Protocol), e.to_string()),
        // A transport that caps what a peer may send (before authentication) says so this way.
        WsError::Io(e) if e.get_ref().is_some_and(|inner| inner.is::<TransportLimit>()) => {
            (Some(CloseCode::Size), e.to_string())
        }
        _ => (None, String::new()),
    }
}

/// The error a transport's reader returns when a peer exceeds a byte limit it
/// enforces below the WebSocket layer; the connection closes with 1009 and this text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportLimit(pub String);

/// When a deadline passes; never, once it is met (dropped).
async fn passed(deadline: &mut Option<Pin<Box<Sleep>>>) {
    match deadline {
        Some(deadline) => deadline.as_mut().await,
        None => std::future::pending().await,
    }
}

/// When a connection's credential ends; never, for one that does not. Boxed where
/// there is one: its timer and watch (hundreds of bytes) would otherwise sit in every
/// connection's read loop for its whole life.
async fn over(lifetime: Option<Lifetime>) {
    match lifetime {
        Some(lifetime) => Box::pin(async move { lifetime.over().await }).await,
        None => std::future::pending().await,
    }
}

/// Resolves once the server shuts down; never, if nobody holds the sender.
/// (Also drops the `watch::Ref`, which is not `Send`.)
async fn stopped(shutdown: &mut watch::Receiver<Shutdown>) -> Shutdown {
    let how = shutdown.wait_for(|stop| *stop != Shutdown::Running).await.map(|how| *how);
    match how {
        Ok(how) => how,
        Err(_) => std::future::pending::<Shutdown>().await,
    }
}
