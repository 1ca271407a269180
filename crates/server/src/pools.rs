//! The three pools a stream passes through, each with its own cap, so that no
//! stage can be filled by peers who never get further:
//! - `pending`: accepted sockets still sending their HTTP request head;
//! - `unauthenticated`: WebSockets waiting for `session.auth`;
//! - `connections`: authenticated WebSockets.
//!
//! The first two are [`PerTransport`]: anyone who can reach the TCP port can hold
//! them without a credential, and the Unix socket (0600, the operator's way in) must
//! never be closed because TCP strangers hold its places.
//!
//! A connection that authenticates by frame moves from the second to the third
//! through [`Gate`], which also lifts the byte budget of its [`Metered`] reader.

use parking_lot::Mutex;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tether_core::{Admission, RpcError, TransportLimit};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use crate::front::Transport;

/// A count with a cap; watched, so shutdown can wait for zero.
pub(crate) struct Pool {
    count: watch::Sender<usize>,
    max: usize,
    /// The configuration key of `max`, for errors.
    pub(crate) limit: &'static str,
}

impl Pool {
    pub(crate) fn new(max: usize, limit: &'static str) -> Arc<Pool> {
        Arc::new(Pool { count: watch::channel(0).0, max, limit })
    }

    pub(crate) fn count(&self) -> usize {
        *self.count.borrow()
    }

    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Takes a place unless the pool is full; dropping the slot gives it back.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Slot> {
        let max = self.max;
        let admitted = self.count.send_if_modified(|n| {
            if *n >= max {
                return false;
            }
            *n += 1;
            true
        });
        admitted.then(|| Slot(self.clone()))
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    pub(crate) async fn wait_empty(&self) {
        let _ = self.count.subscribe().wait_for(|n| *n == 0).await;
    }
}

pub(crate) struct Slot(Arc<Pool>);

/// One pool per transport, each `max` places under the same configuration key.
pub(crate) struct PerTransport {
    pub(crate) tcp: Arc<Pool>,
    pub(crate) unix: Arc<Pool>,
}

impl PerTransport {
    pub(crate) fn new(max: usize, limit: &'static str) -> PerTransport {
        PerTransport { tcp: Pool::new(max, limit), unix: Pool::new(max, limit) }
    }

    pub(crate) fn of(&self, transport: Transport) -> &Arc<Pool> {
        match transport {
            Transport::Tcp => &self.tcp,
            Transport::Unix => &self.unix,
        }
    }

    /// Both transports together.
    pub(crate) fn count(&self) -> usize {
        self.tcp.count() + self.unix.count()
    }

    pub(crate) async fn wait_empty(&self) {
        tokio::join!(self.tcp.wait_empty(), self.unix.wait_empty());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.count.send_modify(|n| *n -= 1);
    }
}

/// Open WebSockets by transport and whether they have authenticated (for metrics).
#[derive(Default)]
pub(crate) struct Census([AtomicUsize; 4]);

impl Census {
    fn slot(&self, tcp: bool, authenticated: bool) -> &AtomicUsize {
        &self.0[usize::from(tcp) * 2 + usize::from(authenticated)]
    }

    /// (state, transport, count) for every combination.
    pub(crate) fn counts(&self) -> Vec<(&'static str, &'static str, usize)> {
        let mut out = Vec::new();
        for (tcp, transport) in [(true, "tcp"), (false, "unix")] {
            for (authenticated, state) in [(true, "authenticated"), (false, "unauthenticated")] {
                out.push((state, transport, self.slot(tcp, authenticated).load(Ordering::Relaxed)));
            }
        }
        out
    }
}

/// One WebSocket's place: in the unauthenticated pool until it authenticates,
/// then in the authenticated one; and how many bytes it has read meanwhile.
pub(crate) struct Gate {
    slot: Mutex<Slot>,
    connections: Arc<Pool>,
    open: AtomicBool,
    read: AtomicUsize,
    /// Bytes (frames included) an unauthenticated peer may send.
    budget: usize,
    census: Arc<Census>,
    tcp: bool,
}

impl Gate {
    /// A connection already authenticated (bearer header, or no auth): its slot is
    /// in `connections` and nothing is metered.
    pub(crate) fn open(slot: Slot, connections: Arc<Pool>, census: Arc<Census>, tcp: bool) -> Arc<Gate> {
        Gate::new(slot, connections, true, 0, census, tcp)
    }

    /// A connection that must still authenticate, holding an unauthenticated slot.
    pub(crate) fn closed(
        slot: Slot,
        connections: Arc<Pool>,
        budget: usize,
        census: Arc<Census>,
        tcp: bool,
    ) -> Arc<Gate> {
        Gate::new(slot, connections, false, budget, census, tcp)
    }

    fn new(slot: Slot, connections: Arc<Pool>, open: bool, budget: usize, census: Arc<Census>, tcp: bool) -> Arc<Gate> {
        census.slot(tcp, open).fetch_add(1, Ordering::Relaxed);
        let open = AtomicBool::new(open);
        Arc::new(Gate { slot: Mutex::new(slot), connections, open, read: 0.into(), budget, census, tcp })
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.census.slot(self.tcp, *self.open.get_mut()).fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission for Gate {
    fn admit(&self) -> Result<(), RpcError> {
        if self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        let slot = self
            .connections
            .try_acquire()
            .ok_or_else(|| RpcError::limit("too many connections", self.connections.limit, self.connections.max()))?;
        // The unauthenticated place is given back as the authenticated one is taken.
        *self.slot.lock() = slot;
        self.open.store(true, Ordering::Release);
        self.census.slot(self.tcp, false).fetch_sub(1, Ordering::Relaxed);
        self.census.slot(self.tcp, true).fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A stream whose reads count against the gate's budget until it opens: an
/// unauthenticated peer cannot make the WebSocket layer buffer a large message.
pub(crate) struct Metered<S> {
    pub(crate) inner: S,
    pub(crate) gate: Arc<Gate>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let gate = &self.gate;
        if matches!(polled, Poll::Ready(Ok(()))) && !gate.open.load(Ordering::Acquire) {
            let n = buf.filled().len() - before;
            if gate.read.fetch_add(n, Ordering::Relaxed) + n > gate.budget {
                let why = format!("more than {} bytes before authentication (limits.max_preauth_bytes)", gate.budget);
                return Poll::Ready(Err(io::Error::other(TransportLimit(why))));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_is_capped_and_slots_give_their_place_back() {
        let pool = Pool::new(2, "limits.x");
        let a = pool.try_acquire().unwrap();
        let _b = pool.try_acquire().unwrap();
        assert!(pool.try_acquire().is_none());
        drop(a);
        assert_eq!(pool.count(), 1);
        assert!(pool.try_acquire().is_some());
    }

    #[test]
    fn admission_moves_a_connection_between_pools() {
        let unauthenticated = Pool::new(1, "limits.max_unauthenticated");
        let connections = Pool::new(1, "limits.max_connections");
        let census = Arc::new(Census::default());
        let gate = Gate::closed(unauthenticated.try_acquire().unwrap(), connections.clone(), 10, census.clone(), true);
        assert_eq!(census.counts()[1], ("unauthenticated", "tcp", 1));
        gate.admit().unwrap();
        assert_eq!((unauthenticated.count(), connections.count()), (0, 1));
        assert_eq!(census.counts()[..2], [("authenticated", "tcp", 1), ("unauthenticated", "tcp", 0)]);
        let second =
            Gate::closed(unauthenticated.try_acquire().unwrap(), connections.clone(), 10, census.clone(), true);
        let refused = second.admit().unwrap_err();
        assert!(refused.to_string().contains("limits.max_connections"), "{refused}");
        assert_eq!(unauthenticated.count(), 1, "a refused connection keeps its place until it closes");
        drop((gate, second));
        assert_eq!(census.counts()[..2], [("authenticated", "tcp", 0), ("unauthenticated", "tcp", 0)]);
    }
}
