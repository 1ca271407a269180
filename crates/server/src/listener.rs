//! Binding, accepting, counting connections, and shutting down gracefully.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use tether_core::{Registry, Shutdown};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::ServerConfig;
use crate::front::{self, Transport};
use crate::pools::{PerTransport, Pool, Slot};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("nothing to listen on: set a TCP address or a Unix socket path")]
    NoListener,
    #[error("{addr} is not a loopback address: binding it needs allow_remote (--allow-remote) and auth on")]
    RemoteNotAllowed { addr: SocketAddr },
    #[error("invalid limits: {0}")]
    Limits(String),
    #[error("cannot listen on {addr}: {source}")]
    Tcp { addr: SocketAddr, source: io::Error },
    #[error("cannot listen on {}: {source}", path.display())]
    Unix { path: PathBuf, source: io::Error },
    #[error("socket directory {} is accessible by others (mode {mode:o}); use a private (0700) directory", path.display())]
    SocketDirTooOpen { path: PathBuf, mode: u32 },
    #[error("another daemon is already listening on {}", path.display())]
    SocketInUse { path: PathBuf },
}

/// State every connection of this server shares.
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) connection_config: Arc<tether_core::ConnectionConfig>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) started: Instant,
    pub(crate) loopback_only: bool,
    /// The TCP port speaks TLS: the console's own origin is `https://`.
    pub(crate) tls: bool,
    pub(crate) shutdown: watch::Sender<Shutdown>,
    /// Accepted sockets still sending their request head, per transport.
    pub(crate) pending: PerTransport,
    /// WebSockets waiting for `session.auth`, per transport.
    pub(crate) unauthenticated: PerTransport,
    /// Authenticated WebSockets.
    pub(crate) connections: Arc<Pool>,
    /// Open WebSockets by transport and state (for metrics).
    pub(crate) census: Arc<crate::pools::Census>,
}

impl Shared {
    pub(crate) fn connection_count(&self) -> usize {
        self.connections.count()
    }
}

pub struct Server {
    tcp: Option<TcpListener>,
    tls: Option<TlsAcceptor>,
    unix: Option<(UnixListener, PathBuf)>,
    shared: Arc<Shared>,
}

impl Server {
    pub async fn bind(config: ServerConfig, registry: Registry) -> Result<Server, ServerError> {
        config.connection.limits.validate().map_err(ServerError::Limits)?;
        if config.listen.is_none() && config.socket.is_none() {
            return Err(ServerError::NoListener);
        }
        let loopback_only = config.listen.is_none_or(|addr| addr.ip().is_loopback());
        if let Some(addr) = config.listen
            && !loopback_only
            && !(config.allow_remote && config.authenticator.is_some())
        {
            return Err(ServerError::RemoteNotAllowed { addr });
        }
        let tcp = match config.listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| ServerError::Tcp { addr, source })?),
            None => None,
        };
        let unix = match &config.socket {
            Some(path) => Some((bind_unix(path)?, path.clone())),
            None => None,
        };
        let tls = config.tls.clone().map(TlsAcceptor::from);
        let limits = &config.connection.limits;
        let shared = Arc::new(Shared {
            pending: PerTransport::new(limits.max_pending_upgrades, "limits.max_pending_upgrades"),
            unauthenticated: PerTransport::new(limits.max_unauthenticated, "limits.max_unauthenticated"),
            connections: Pool::new(limits.max_connections, "limits.max_connections"),
            census: Arc::default(),
            connection_config: Arc::new(config.connection.clone()),
            config,
            registry: Arc::new(registry),
            started: Instant::now(),
            loopback_only,
            tls: tls.is_some(),
            shutdown: watch::channel(Shutdown::Running).0,
        });
        Ok(Server { tcp, tls, unix, shared })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Whether the TCP port speaks TLS (its URLs are then `wss://` and `https://`).
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn socket_path(&self) -> Option<&Path> {
        self.unix.as_ref().map(|(_, path)| path.as_path())
    }

    /// Serves until `shutdown` resolves, then closes every connection with 1001
    /// and waits (bounded by the close timeout) for them to finish.
    /// (`shutdown` may say [`Shutdown::Restart`] instead: close 1012, service restart.)
    pub async fn run<F>(self, shutdown: F)
    where
        F: Future,
        F::Output: Into<Shutdown>,
    {
        let Server { tcp, tls, unix, shared } = self;
        let trimmer = tokio::spawn(trim_after_bursts(shared.connections.subscribe()));
        let accepting = async {
            tokio::join!(
                accept_tcp(tcp, tls, shared.clone()),
                accept_unix(unix.as_ref().map(|(l, _)| l), shared.clone())
            );
        };
        let how = tokio::select! {
            _ = accepting => Shutdown::Away,
            how = shutdown => how.into(),
        };
        tracing::info!(connections = shared.connection_count(), ?how, "shutting down");
        shared.shutdown.send_replace(how);
        let grace = shared.config.connection.close_timeout + std::time::Duration::from_secs(1);
        let all_closed = async { tokio::join!(shared.connections.wait_empty(), shared.unauthenticated.wait_empty()) };
        if tokio::time::timeout(grace, all_closed).await.is_err() {
            tracing::warn!(connections = shared.connection_count(), "connections still open after the shutdown grace");
        }
        trimmer.abort();
        if let Some((_, path)) = unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The allocator keeps what a burst of connections freed (in its arenas or per-thread
/// heaps); once most of a burst has closed, hand it back to the system, and once more
/// when the last of it has closed: what the last quarter freed stayed held otherwise.
async fn trim_after_bursts(mut connections: watch::Receiver<usize>) {
    const BURST: usize = 64;
    let mut peak = 0;
    let mut tail = false;
    while connections.changed().await.is_ok() {
        let open = *connections.borrow_and_update();
        peak = peak.max(open);
        let burst_closed = peak >= BURST && open <= peak / 4;
        if burst_closed || (tail && open == 0) {
            tail = burst_closed && open > 0;
            peak = open;
            let _ = tokio::task::spawn_blocking(tether_core::release_free_memory).await;
        }
    }
}

async fn accept_tcp(listener: Option<TcpListener>, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    let Some(listener) = listener else { return };
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let Some(pending) = admit_pending(&shared, Transport::Tcp) else { continue };
                let _ = stream.set_nodelay(true);
                match &tls {
                    Some(tls) => tokio::spawn(handshake(tls.clone(), stream, shared.clone(), pending)),
                    None => tokio::spawn(front::handle(stream, Transport::Tcp, shared.clone(), pending)),
                };
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// The TLS handshake holds the socket's pending slot and is bounded by the head
/// timeout: a client stalled in it costs what one stalled in its request head does.
async fn handshake(tls: TlsAcceptor, stream: TcpStream, shared: Arc<Shared>, pending: Slot) {
    // The handshake is boxed and freed once done, and the stream taken out of its outcome
    // before the connection is served: inline, or matched around that await, either would
    // size the connection's task (kilobytes) for as long as it stays open.
    let accept = Box::pin(tls.accept(stream));
    let stream = match tokio::time::timeout(shared.config.connection.limits.head_timeout(), accept).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return tracing::debug!(%error, "dropped a stream whose TLS handshake failed"),
        Err(_) => return tracing::debug!("dropped a stream that did not finish its TLS handshake in time"),
    };
    front::handle(stream, Transport::Tcp, shared, pending).await
}

async fn accept_unix(listener: Option<&UnixListener>, shared: Arc<Shared>) {
    let Some(listener) = listener else { return };
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let Some(pending) = admit_pending(&shared, Transport::Unix) else { continue };
                tokio::spawn(front::handle(stream, Transport::Unix, shared.clone(), pending));
            }
            Err(e) => accept_failed(e).await,
        }
    }
}

/// A place among the sockets of this transport still sending their head; without
/// one the socket is closed at once (it would cost a descriptor and a task for nothing).
fn admit_pending(shared: &Arc<Shared>, transport: Transport) -> Option<Slot> {
    let pool = shared.pending.of(transport);
    let slot = pool.try_acquire();
    if slot.is_none() {
        tracing::debug!(limit = pool.max(), ?transport, "closed a socket: limits.max_pending_upgrades reached");
    }
    slot
}

/// Out of file descriptors and the like: back off instead of spinning.
async fn accept_failed(error: io::Error) {
    tracing::warn!(%error, "accept failed");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

/// Binds a 0600 socket inside a 0700 directory, replacing a stale socket file.
fn bind_unix(path: &Path) -> Result<UnixListener, ServerError> {
    let unix_err = |source| ServerError::Unix { path: path.to_owned(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(unix_err)?;
    }
    let mode = std::fs::metadata(dir).map_err(unix_err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ServerError::SocketDirTooOpen { path: dir.to_owned(), mode });
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServerError::SocketInUse { path: path.to_owned() });
        }
        std::fs::remove_file(path).map_err(unix_err)?;
    }
    let listener = UnixListener::bind(path).map_err(unix_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(unix_err)?;
    Ok(listener)
}
