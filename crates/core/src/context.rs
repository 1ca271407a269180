//! What a handler knows about, and can do to, the connection that called it.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tether_proto::jsonrpc::{Id, Version};
use tokio::sync::oneshot;

use crate::auth::{Authenticator, Credential, Lifetime, Principal};
use crate::broker::{Broker, CallError};
use crate::caller::{BoxFuture, BuildParams, Caller, Connection, Peer};
use crate::connection::Admission;
use crate::error::RpcError;
use crate::outbound::{Closed, Outbound};
use crate::registry::Registry;

/// A cheap handle on one connection, given to every handler.
#[derive(Clone)]
pub struct Context {
    pub(crate) conn: Arc<ConnState>,
}

pub(crate) struct ConnState {
    pub(crate) id: u64,
    pub(crate) registry: Arc<Registry>,
    /// `None` when the daemon runs with `--no-auth`.
    pub(crate) authenticator: Option<Arc<dyn Authenticator>>,
    /// Set once, by the transport (a bearer header, `--no-auth`) or by `session.auth`.
    pub(crate) principal: OnceLock<Principal>,
    /// Set with the principal: the credential allows only read methods.
    pub(crate) read_only: AtomicBool,
    pub(crate) admission: Option<Arc<dyn Admission>>,
    /// A credential the transport's authenticator issued at the upgrade (for a console
    /// login code), answered by `server.handshake`.
    pub(crate) issued: Option<Credential>,
    /// Set with the principal when its credential ends (a console session).
    pub(crate) lifetime: Mutex<Option<Lifetime>>,
    pub(crate) handshake_done: AtomicBool,
    pub(crate) capabilities: Mutex<Arc<[String]>>,
    /// The domains' view of this connection: closed (the client gone, their states
    /// dropped) when the read loop ends.
    pub(crate) connection: Connection,
    pub(crate) outbound: Outbound,
    pub(crate) broker: Broker,
    pub(crate) in_flight: InFlight,
    /// Set by a handler whose connection must not go on (its run moved to another
    /// node): the connection closes (1008) right after that handler's reply.
    pub(crate) close_after_reply: Mutex<Option<String>>,
    /// `[limits.names]`, for what core itself keeps (the agent `session.auth` binds).
    pub(crate) names: crate::NameLimits,
}

/// Requests being handled, by id, each with the switch that cancels it.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    /// Client-chosen keys, but at most `limits.max_in_flight` of them: a fast hash is enough.
    cancels: Mutex<HashMap<Id, oneshot::Sender<()>, foldhash::fast::RandomState>>,
}

impl InFlight {
    /// Takes a slot if fewer than `max` are in use.
    pub(crate) fn acquire(&self, max: usize) -> bool {
        self.count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
    }

    pub(crate) fn release(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }

    /// Registers a cancellable request; `None` if the id is already in flight.
    pub(crate) fn track(&self, id: &Id) -> Option<oneshot::Receiver<()>> {
        let mut cancels = self.cancels.lock();
        if cancels.contains_key(id) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        cancels.insert(id.clone(), tx);
        Some(rx)
    }

    pub(crate) fn untrack(&self, id: &Id) {
        self.cancels.lock().remove(id);
    }

    pub(crate) fn cancel(&self, id: &Id) -> bool {
        match self.cancels.lock().remove(id) {
            Some(tx) => tx.send(()).is_ok(),
            None => false,
        }
    }
}

impl Context {
    /// What a domain needs of this call's caller: principal, connection (with the
    /// domains' per-connection state), negotiated capabilities, and the client.
    pub fn caller(&self) -> Caller {
        let capabilities = self.conn.capabilities.lock().clone();
        Caller::new(self.principal().clone(), self.conn.connection.clone(), Arc::new(self.clone()))
            .with_negotiated(capabilities)
    }

    /// A process-unique number for this connection.
    pub fn connection_id(&self) -> u64 {
        self.conn.id
    }

    /// Who is calling. The dispatcher runs nothing but `session.auth` before a
    /// connection is authenticated, so every handler that asks has an answer.
    pub fn principal(&self) -> &Principal {
        self.conn.principal.get().expect("no handler but session.auth runs before authentication")
    }

    pub(crate) fn is_authenticated(&self) -> bool {
        self.conn.principal.get().is_some()
    }

    /// The connection's credential allows only methods declared as reads.
    pub fn read_only(&self) -> bool {
        self.conn.read_only.load(Ordering::Acquire)
    }

    /// The end of the connection's credential, if it is one that ends (a console session).
    pub fn lifetime(&self) -> Option<Lifetime> {
        self.conn.lifetime.lock().clone()
    }

    /// The credential issued at the upgrade, if the token presented there was single-use.
    pub(crate) fn issued(&self) -> Option<&Credential> {
        self.conn.issued.as_ref()
    }

    /// Authenticated without an agent binding (or auth is off).
    pub fn is_operator(&self) -> bool {
        self.principal().is_operator()
    }

    pub fn registry(&self) -> &Registry {
        &self.conn.registry
    }

    /// The bounds on names this connection was configured with.
    pub fn names(&self) -> &crate::NameLimits {
        &self.conn.names
    }

    pub fn authenticator(&self) -> Option<&dyn Authenticator> {
        self.conn.authenticator.as_deref()
    }

    /// Binds the connection to `principal`, once: an identity never changes under
    /// the subscriptions and runs made with it. The transport may still refuse
    /// (its pool of authenticated connections is full).
    pub(crate) fn authenticate(
        &self,
        principal: Principal,
        read_only: bool,
        lifetime: Option<Lifetime>,
    ) -> Result<(), RpcError> {
        match self.conn.principal.get() {
            // Saying again who one is changes nothing (a bearer header, then `session.auth`).
            Some(current) if *current == principal => return Ok(()),
            Some(_) => {
                return Err(RpcError::InvalidRequest(
                    "this connection is already authenticated as someone else".into(),
                ));
            }
            None => {}
        }
        if let Some(admission) = &self.conn.admission {
            admission.admit()?;
        }
        self.conn.read_only.store(read_only, Ordering::Release);
        *self.conn.lifetime.lock() = lifetime;
        self.conn
            .principal
            .set(principal)
            .map_err(|_| RpcError::InvalidRequest("this connection is already authenticated".into()))
    }

    pub(crate) fn complete_handshake(&self, capabilities: Vec<String>) {
        *self.conn.capabilities.lock() = capabilities.into();
        self.conn.handshake_done.store(true, Ordering::Release);
    }

    /// Sends a request to the client and waits for its reply.
    pub async fn call(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, CallError> {
        let build = BuildParams::new(move |_, out| {
            serde_json::to_writer(out, &params).expect("a JSON value always serializes")
        });
        self.conn.broker.call(&self.conn.outbound, method, build, timeout).await
    }

    /// Whether `server.handshake` negotiated this capability.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.conn.capabilities.lock().iter().any(|c| c == capability)
    }

    /// Sends a notification once at least half of the outbound queue is free, so
    /// that streams of notifications (subscriptions) never crowd out replies.
    pub async fn notify_politely<P: Serialize + ?Sized>(&self, method: &str, params: &P) -> Result<(), Closed> {
        self.half_free().await?;
        self.notify(method, params).await
    }

    /// Resolves once at least half of the outbound queue is free.
    async fn half_free(&self) -> Result<(), Closed> {
        let mut backoff = Duration::from_millis(1);
        loop {
            if self.conn.outbound.is_closed() {
                return Err(Closed);
            }
            let (free, size) = self.conn.outbound.room();
            if free * 2 >= size {
                return Ok(());
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }

    /// Notifications of one method, one per params, sent politely as `notify_politely`
    /// sends one and written with one flush: a delivery to several subscriptions costs
    /// the connection one system call, not one per subscription.
    pub async fn notify_each_politely<P: Serialize>(&self, method: &str, params: &[P]) -> Result<(), Closed> {
        self.half_free().await?;
        let texts = params
            .iter()
            .map(|params| {
                let note = Notification { jsonrpc: Version, method, params };
                serde_json::to_string(&note).expect("a notification always serializes")
            })
            .collect();
        self.conn.outbound.send_texts(texts).await
    }

    /// Closes the connection (1008, `reason`) once the current request's reply is queued.
    pub fn close_after_reply(&self, reason: impl Into<String>) {
        *self.conn.close_after_reply.lock() = Some(reason.into());
    }

    pub fn is_closed(&self) -> bool {
        self.conn.outbound.is_closed()
    }

    /// Resolves once the connection is closing or closed: a handler that waits long
    /// (a hook on an approval) can stop waiting for a client that is gone.
    pub async fn closed(&self) {
        self.conn.outbound.closed().await
    }

    /// Sends a notification to the client, its params serialised straight into the frame.
    pub async fn notify<P: Serialize + ?Sized>(&self, method: &str, params: &P) -> Result<(), Closed> {
        let note = Notification { jsonrpc: Version, method, params };
        let text = serde_json::to_string(&note).expect("a notification always serializes");
        self.conn.outbound.send_text(text).await
    }
}

impl Peer for Context {
    fn call<'a>(
        &'a self,
        method: &'static str,
        build: BuildParams<'a>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            let reply = self.conn.broker.call(&self.conn.outbound, method, build, timeout).await;
            if reply.is_err() && self.is_closed() {
                // The connection is closing: the caller's client is gone from now on,
                // even before the read loop ends and says so for everyone.
                self.conn.connection.mark_gone();
            }
            reply
        })
    }

    fn notify<'a>(
        &'a self,
        method: &'static str,
        params: Box<serde_json::value::RawValue>,
        politely: bool,
    ) -> BoxFuture<'a, Result<(), Closed>> {
        Box::pin(async move {
            match politely {
                true => self.notify_politely(method, &*params).await,
                false => Context::notify(self, method, &*params).await,
            }
        })
    }
}

/// A notification's wire form (`jsonrpc::Request` without an id), borrowing its params.
#[derive(Serialize)]
struct Notification<'a, P: ?Sized> {
    jsonrpc: Version,
    method: &'a str,
    params: &'a P,
}
