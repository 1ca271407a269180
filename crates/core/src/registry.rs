//! The method registry: every domain module registers its methods here.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use schemars::{Schema, SchemaGenerator};
use serde_json::Value;
use serde_json::value::RawValue;
use tether_proto::{Method, ServerMessage};

use crate::context::Context;
use crate::error::RpcError;
use crate::reply::{ResultText, Written};

/// A handler's result is serialised once, straight into its reply's text: never
/// built as a `Value` tree first, never copied into a reply afterwards.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<ResultText, RpcError>> + Send>>;
type Handler = Arc<dyn Fn(Context, Option<Box<RawValue>>) -> HandlerFuture + Send + Sync>;

/// When a method may be called on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before authentication (only `session.auth`).
    Unauthenticated,
    /// After authentication, before `server.handshake`.
    Handshake,
    /// After `server.handshake`: every application method.
    Session,
}

/// Who may call a method once the connection is in its phase. Checked in one
/// place (the dispatcher), never inside handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any authenticated principal (handlers then scope what an agent sees).
    Authenticated,
    /// Only the operator; agents get -32003 naming the method.
    Operator,
}

pub(crate) struct Entry {
    pub(crate) summary: &'static str,
    pub(crate) phase: Phase,
    pub(crate) access: Access,
    /// Changes nothing: allowed on a read-only credential.
    pub(crate) reads: bool,
    /// Its handler may answer before it returns (`Early`).
    pub(crate) early: bool,
    pub(crate) schemas: fn(&mut SchemaGenerator) -> (Schema, Schema),
    pub(crate) handler: Handler,
}

/// A message the server sends the client, declared for `rpc.discover`.
pub(crate) struct Outbound {
    pub(crate) summary: &'static str,
    pub(crate) request: bool,
    pub(crate) schemas: fn(&mut SchemaGenerator) -> (Schema, Schema),
}

type CloseHook = Box<dyn Fn(u64) + Send + Sync>;

/// Told how every request ended (the metrics listen): its method, the JSON-RPC
/// error code (0 for a result), and how long its handler took.
pub trait Observer: Send + Sync + 'static {
    fn request(&self, method: &'static str, code: i32, elapsed: std::time::Duration);
}

#[derive(Default)]
pub struct Registry {
    pub(crate) methods: BTreeMap<&'static str, Entry>,
    pub(crate) outbound: BTreeMap<&'static str, Outbound>,
    /// Kinds of event published to subscribers (`events.event`), for `x-events`.
    pub(crate) events: Vec<tether_proto::events::Kind>,
    capabilities: BTreeSet<String>,
    pub(crate) close_hooks: Vec<CloseHook>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
}

impl Registry {
    /// A registry holding the built-in methods (`server.*`, `session.auth`, `rpc.discover`).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        crate::methods::register(&mut registry);
        registry
    }

    /// Registers `M` for the session phase (after the handshake).
    pub fn register<M, F, Fut>(&mut self, handler: F) -> Registered<'_>
    where
        M: Method,
        F: Fn(Context, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, RpcError>> + Send + 'static,
    {
        self.register_in::<M, F, Fut>(Phase::Session, handler)
    }

    /// Registers `M` with a handler that also gets the domain's shared state.
    pub fn register_with<M, S, F, Fut>(&mut self, state: &Arc<S>, handler: F) -> Registered<'_>
    where
        M: Method,
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, Context, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, RpcError>> + Send + 'static,
    {
        let state = state.clone();
        self.register::<M, _, _>(move |cx, params| handler(state.clone(), cx, params))
    }

    pub fn register_in<M, F, Fut>(&mut self, phase: Phase, handler: F) -> Registered<'_>
    where
        M: Method,
        F: Fn(Context, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<M::Result, RpcError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |cx, params| {
            let handler = handler.clone();
            Box::pin(async move {
                let params = decode_params::<M::Params>(params.as_deref())?;
                let result = handler(cx, params).await?;
                // Answered ahead (a durable turn's reply, from the journal's thread): the
                // dispatcher sends nothing more, so there is nothing to serialise.
                if crate::early::Early::answered() {
                    return Ok(ResultText::unsent());
                }
                ResultText::of(&result).map_err(|e| RpcError::Internal(e.to_string()))
            })
        });
        self.insert::<M>(phase, erased)
    }

    /// Registers `M` with a handler that writes its result straight into the reply's
    /// text ([`Written`]): for results of megabytes, which serialising would copy.
    pub fn register_written<M, S, F, Fut>(&mut self, state: &Arc<S>, handler: F) -> Registered<'_>
    where
        M: Method,
        S: Send + Sync + 'static,
        F: Fn(Arc<S>, Context, M::Params) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Written<M::Result>, RpcError>> + Send + 'static,
    {
        let (handler, state) = (Arc::new(handler), state.clone());
        let erased: Handler = Arc::new(move |cx, params| {
            let (handler, state) = (handler.clone(), state.clone());
            Box::pin(async move {
                let params = decode_params::<M::Params>(params.as_deref())?;
                let written = handler(state, cx, params).await?;
                // One JSON value, at least; that it is `M::Result`'s is for the handler's
                // tests (serde cannot read some results back: `Stored` in an untagged enum).
                debug_assert!(
                    serde_json::from_str::<serde::de::IgnoredAny>(written.as_json()).is_ok(),
                    "{} wrote a result that is not JSON",
                    M::NAME
                );
                Ok(ResultText::written(written))
            })
        });
        self.insert::<M>(Phase::Session, erased)
    }

    fn insert<M: Method>(&mut self, phase: Phase, handler: Handler) -> Registered<'_> {
        let entry = Entry {
            summary: M::SUMMARY,
            phase,
            access: Access::Authenticated,
            reads: false,
            early: false,
            schemas: schemas::<M>,
            handler,
        };
        let previous = self.methods.insert(M::NAME, entry);
        assert!(previous.is_none(), "method {} registered twice", M::NAME);
        Registered(self.methods.get_mut(M::NAME).expect("just inserted"))
    }

    /// Declares a message this server sends its clients (a notification or a
    /// callback such as `tools.execute`), published in `rpc.discover`.
    pub fn server_message<M: ServerMessage>(&mut self) {
        let entry = Outbound { summary: M::SUMMARY, request: M::REQUEST, schemas: outbound_schemas::<M> };
        self.outbound.insert(M::NAME, entry);
    }

    /// Declares the kinds of event this server publishes (their families and payload
    /// schemas go in `rpc.discover` as `x-events`).
    pub fn server_events(&mut self, kinds: &[tether_proto::events::Kind]) {
        self.events.extend_from_slice(kinds);
    }

    /// The OpenRPC document `rpc.discover` answers (also printed by `tether openrpc`).
    pub fn openrpc(&self) -> Value {
        crate::discover::openrpc_document(self)
    }

    /// Runs `hook` with the connection id whenever a connection closes.
    pub fn on_close(&mut self, hook: impl Fn(u64) + Send + Sync + 'static) {
        self.close_hooks.push(Box::new(hook));
    }

    /// Reports every request's outcome to `observer`.
    pub fn observe(&mut self, observer: Arc<dyn Observer>) {
        self.observer = Some(observer);
    }

    /// Declares a capability that `server.handshake` can negotiate.
    pub fn add_capability(&mut self, capability: impl Into<String>) {
        self.capabilities.insert(capability.into());
    }

    pub fn capabilities(&self) -> &BTreeSet<String> {
        &self.capabilities
    }

    pub fn method_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.methods.keys().copied()
    }

    pub(crate) fn get(&self, method: &str) -> Option<(&'static str, &Entry)> {
        self.methods.get_key_value(method).map(|(name, entry)| (*name, entry))
    }
}

/// A method just registered; declares who may call it and whether it changes anything.
pub struct Registered<'a>(&'a mut Entry);

impl Registered<'_> {
    /// Only the operator may call this method.
    pub fn operator_only(self) -> Self {
        self.0.access = Access::Operator;
        self
    }

    /// The method only reads: a read-only credential (a read-only console) may call it.
    /// Every other method is refused to such a credential.
    pub fn reads(self) -> Self {
        self.0.reads = true;
        self
    }

    /// The handler may answer a single call before it returns, from any thread
    /// (`Early::take`); other methods pay nothing for it.
    pub fn answers_early(self) -> Self {
        self.0.early = true;
        self
    }
}

/// Reads params straight from the text the client sent (absent params read as `{}`);
/// errors name the offending field by its path.
fn decode_params<P: serde::de::DeserializeOwned>(params: Option<&RawValue>) -> Result<P, RpcError> {
    let text = params.map_or("{}", RawValue::get);
    // Read plainly first: tracking the path costs every request, and only a refusal needs it.
    if let Ok(params) = serde_json::from_str(text) {
        return Ok(params);
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let inner = without_position(e.inner());
        if path == "." {
            RpcError::InvalidParams(format!("params: {inner}"))
        } else {
            RpcError::InvalidParams(format!("params.{path}: {inner}"))
        }
    })
}

/// serde_json's message without the line and column it appends when reading text:
/// params are one member of a frame, so its position within them helps nobody.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

fn outbound_schemas<M: ServerMessage>(generator: &mut SchemaGenerator) -> (Schema, Schema) {
    (generator.subschema_for::<M::Params>(), generator.subschema_for::<M::Result>())
}

fn schemas<M: Method>(generator: &mut SchemaGenerator) -> (Schema, Schema) {
    (generator.subschema_for::<M::Params>(), generator.subschema_for::<M::Result>())
}
