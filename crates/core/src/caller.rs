//! The narrow view of a caller that a domain needs: who calls, on which connection
//! (with the domains' typed state for it), what it negotiated, and a way to reach its
//! client. A handler builds it from its `Context` (`Context::caller`); a unit test
//! builds it by hand, with a test double for the client, and never opens a socket.

use parking_lot::Mutex;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;

use tether_proto::{ServerMessage, Writes};

use crate::auth::Principal;
use crate::broker::CallError;
use crate::outbound::Closed;

/// A boxed, sendable future (what [`Peer`]'s methods return, so it stays object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Writes a server → client request's params (JSON) from the request's own id,
/// straight into the request's text: serialised once, with no copy in between.
pub struct BuildParams<'a>(Box<WriteParams<'a>>);

type WriteParams<'a> = dyn FnOnce(&str, &mut Vec<u8>) + Send + 'a;

impl<'a> BuildParams<'a> {
    /// `write` must append exactly one JSON object (or array) to its buffer.
    pub fn new(write: impl FnOnce(&str, &mut Vec<u8>) + Send + 'a) -> Self {
        BuildParams(Box::new(write))
    }

    /// Appends the params of request `id` to `out`.
    pub fn write(self, id: &str, out: &mut Vec<u8>) {
        (self.0)(id, out)
    }

    /// The params of request `id` as text (what a test double reads back).
    pub fn text(self, id: &str) -> String {
        let mut out = Vec::new();
        self.write(id, &mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }
}

/// The client at the other end of a connection, as a domain reaches it: requests
/// (`tools.execute`) and notifications. `Context` is the real one; tests pass a double.
pub trait Peer: Send + Sync {
    /// Sends a request and waits at most `timeout` for its reply.
    fn call<'a>(
        &'a self,
        method: &'static str,
        build: BuildParams<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, CallError>>;

    /// Sends a notification; `politely` waits until half the outbound queue is free,
    /// so a stream of notifications never crowds out replies.
    fn notify<'a>(
        &'a self,
        method: &'static str,
        params: Box<RawValue>,
        politely: bool,
    ) -> BoxFuture<'a, Result<(), Closed>>;
}

/// The typed face of a [`Peer`], for every peer: what the server sends is declared in
/// `proto` as a `ServerMessage` (registered with `Registry::server_message`, so it is in
/// the OpenRPC document), and its params and result are checked by the compiler.
pub trait PeerExt: Peer {
    /// Calls the client with request `M` (`tools.execute`); `build` makes its params
    /// from the request's own id. A reply that is not an `M::Result` reads as the client
    /// answering with an error (`Remote`, -32603).
    fn request<'a, M: ServerMessage>(
        &'a self,
        build: impl FnOnce(&str) -> M::Params + Send + 'a,
        timeout: Duration,
    ) -> impl Future<Output = Result<M::Result, CallError>> + Send + 'a {
        self.request_with::<M, M::Params>(build, timeout)
    }

    /// `request`, its params made as any type that writes `M::Params`' JSON (`proto`'s
    /// `Writes`): a borrowed twin copies nothing the caller already holds.
    fn request_with<'a, M: ServerMessage, P: Writes<M::Params>>(
        &'a self,
        build: impl FnOnce(&str) -> P + Send + 'a,
        timeout: Duration,
    ) -> impl Future<Output = Result<M::Result, CallError>> + Send + 'a {
        const { assert!(M::REQUEST, "a notification is sent with `notice`") };
        // Serialised once, straight into the request: a `Value` tree (or a text of its
        // own) in between would cost a copy of every parameter on the turn's path.
        let build = BuildParams::new(move |id, out| {
            serde_json::to_writer(out, &build(id)).expect("server message params always serialize")
        });
        async move {
            let reply = self.call(M::NAME, build, timeout).await?;
            // A `Value` result (a tool's output) is the reply as it came: read into a
            // `Value` again, the whole tree would be rebuilt node by node.
            let mut reply = Some(reply);
            if let Some(result) = (&mut reply as &mut dyn std::any::Any).downcast_mut::<Option<M::Result>>() {
                return Ok(result.take().expect("the reply is there"));
            }
            serde_json::from_value(reply.expect("the reply is there")).map_err(|e| {
                // Read as the client answering with an error: it did not answer as declared.
                let message = format!("the answer is not {}'s declared result: {e}", M::NAME);
                let error = tether_proto::ErrorObject::new(tether_proto::codes::INTERNAL_ERROR, message);
                CallError::Remote { method: M::NAME.to_owned(), error }
            })
        }
    }

    /// Sends notification `M`, its params serialised once, straight into the frame.
    fn notice<'a, M: ServerMessage>(
        &'a self,
        params: &M::Params,
        politely: bool,
    ) -> impl Future<Output = Result<(), Closed>> + Send + 'a {
        const { assert!(!M::REQUEST, "a request is sent with `request`") };
        let params = serde_json::value::to_raw_value(params).expect("server message params always serialize");
        self.notify(M::NAME, params, politely)
    }
}

impl<P: Peer + ?Sized> PeerExt for P {}

/// One connection, as the domains see it: its id, whether its client is still there,
/// and the domains' typed per-connection state, dropped when it closes.
#[derive(Clone)]
pub struct Connection {
    id: u64,
    inner: Arc<Shared>,
}

/// The domains' per-connection state, by type: keys the compiler makes, so a fast hash.
type States = HashMap<TypeId, Arc<dyn Any + Send + Sync>, foldhash::fast::RandomState>;

#[derive(Default)]
struct Shared {
    gone: AtomicBool,
    /// One value per type; `None` once the connection closed.
    states: Mutex<Option<States>>,
}

impl Connection {
    /// An open connection (core makes one per socket; a test makes its own).
    pub fn new(id: u64) -> Connection {
        let inner = Shared { gone: AtomicBool::new(false), states: Mutex::new(Some(HashMap::default())) };
        Connection { id, inner: Arc::new(inner) }
    }

    /// A process-unique number for this connection.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client went away: set once, by core when the connection closes (before any
    /// pending call to it fails), or by a test. A fact handed to the domains, which
    /// never ask the socket.
    pub fn is_gone(&self) -> bool {
        self.inner.gone.load(Ordering::Acquire)
    }

    /// The connection's state of type `T`, made by `make` on first use and dropped
    /// when the connection closes (once no caller holds it any more). Asked after the
    /// close, it is a fresh `T` nobody keeps: dropped with the caller's last handle.
    /// So a `T`'s `Drop` sees everything ever put in it exactly once, however a
    /// request races the close, and is where its cleanup belongs.
    pub fn state<T: Send + Sync + 'static>(&self, make: impl FnOnce() -> T) -> Arc<T> {
        let mut states = self.inner.states.lock();
        let Some(states) = states.as_mut() else { return Arc::new(make()) };
        let state = states.entry(TypeId::of::<T>()).or_insert_with(|| Arc::new(make()));
        state.clone().downcast::<T>().expect("one state per type")
    }

    /// The client is gone (a call to it found the connection closing), though the
    /// connection has not finished closing yet.
    pub(crate) fn mark_gone(&self) {
        self.inner.gone.store(true, Ordering::Release);
    }

    /// The client is gone: marks it so and drops every state (outside the lock, so a
    /// state's `Drop` may use the connection).
    pub fn close(&self) {
        self.inner.gone.store(true, Ordering::Release);
        let states = self.inner.states.lock().take();
        drop(states);
    }
}

/// What a domain method knows about its caller, and what it may do to it.
#[derive(Clone)]
pub struct Caller {
    principal: Principal,
    connection: Connection,
    capabilities: Arc<[String]>,
    client: Arc<dyn Peer>,
}

impl Caller {
    pub fn new(principal: Principal, connection: Connection, client: Arc<dyn Peer>) -> Caller {
        Caller { principal, connection, capabilities: Arc::from(Vec::new()), client }
    }

    /// The capabilities `server.handshake` negotiated.
    pub fn with_capabilities(mut self, capabilities: impl IntoIterator<Item = impl Into<String>>) -> Caller {
        self.capabilities = capabilities.into_iter().map(Into::into).collect();
        self
    }

    pub(crate) fn with_negotiated(mut self, capabilities: Arc<[String]>) -> Caller {
        self.capabilities = capabilities;
        self
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// The client, to call or notify (also after the request returns, for streams).
    pub fn client(&self) -> &Arc<dyn Peer> {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counted(Arc<AtomicBool>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }

    #[test]
    fn a_state_is_dropped_with_its_connection_and_never_outlives_it() {
        let connection = Connection::new(7);
        let dropped = Arc::new(AtomicBool::new(false));
        let held = connection.state(|| Counted(dropped.clone()));
        assert!(Arc::ptr_eq(&held, &connection.state(|| unreachable!())));
        connection.close();
        assert!(connection.is_gone());
        assert!(!dropped.load(Ordering::Acquire), "a caller still holds it");
        drop(held);
        assert!(dropped.load(Ordering::Acquire));

        // After the close, a state is the caller's alone.
        let late = Arc::new(AtomicBool::new(false));
        drop(connection.state(|| Counted(late.clone())));
        assert!(late.load(Ordering::Acquire));
    }
}
