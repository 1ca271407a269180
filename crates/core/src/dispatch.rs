//! Routing parsed items to handlers: one task per request, bounded, cancellable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use futures_util::future::{Either, join_all};
use serde_json::value::RawValue;
use tether_proto::jsonrpc::{CANCELLED_NOTIFICATION, CancelledParams, Id, Response};

use crate::early::{Early, Progress};
use crate::reply::Reply;
use tether_proto::{ErrorObject, Method, session::Auth};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::auth::Principal;
use crate::context::Context;
use crate::error::RpcError;
use crate::parse::{Frame, Item, parse_frame};
use crate::registry::{Access, Phase};

type ReplyFuture = Pin<Box<dyn Future<Output = Option<Reply>> + Send>>;

enum Pending {
    Done(Option<Reply>),
    Run(ReplyFuture),
}

/// What the read loop does after a frame (`Dispatcher::take`).
enum Step {
    /// Send the answer, if any, and read on.
    Answer(Option<String>),
    Close,
    /// A frame before authentication: only `session.auth` may pass.
    BeforeAuth(Frame),
    /// Send this refusal (the reply's text), then close for the reason given.
    Refuse(String, String),
}

/// Whether the connection may go on reading after a frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

pub(crate) struct Dispatcher {
    pub(crate) cx: Context,
    pub(crate) config: std::sync::Arc<crate::ConnectionConfig>,
}

impl Dispatcher {
    /// Handles one text frame; answers made here (not on a handler's task) go `reply`'s way.
    /// Not an `async fn`: the frame is handled now, and the future (which the read loop
    /// holds, and so sizes for the connection's life) is the answer's write alone.
    pub(crate) fn on_text(&self, text: &str, reply: Route) -> impl Future<Output = Flow> + '_ {
        let step = self.take(text);
        async move {
            match step {
                Step::Answer(None) => Flow::Continue,
                Step::Answer(Some(text)) => {
                    send_text(&self.cx, text, reply).await;
                    Flow::Continue
                }
                Step::Close => Flow::Close,
                // Once per connection, boxed: inline, `session.auth`'s wait would size
                // every frame's future, and so the read loop's, for the connection's life.
                Step::BeforeAuth(frame) => Box::pin(self.before_auth(frame)).await,
                Step::Refuse(text, reason) => {
                    Box::pin(send_text(&self.cx, text, Route::Queue)).await;
                    // Closing as `before_auth` does: the refusal, then a close frame at once.
                    self.cx.conn.outbound.close(CloseCode::Policy, &reason);
                    Flow::Close
                }
            }
        }
    }

    /// What a frame comes to, decided without waiting.
    fn take(&self, text: &str) -> Step {
        // A runtime thread busy anyway resumes the handlers whose answers went out early.
        crate::later::wake_held();
        let limits = &self.config.limits;
        let authenticated = self.cx.is_authenticated();
        // Checked before parsing: an unauthenticated peer gets no work done for it.
        if !authenticated && text.len() > limits.max_preauth_bytes {
            let reason = format!("{} bytes before authentication exceeds limits.max_preauth_bytes", text.len());
            self.cx.conn.outbound.close(CloseCode::Size, &reason);
            return Step::Close;
        }
        let frame = parse_frame(text, limits.max_json_depth, limits.max_batch, limits.max_id_bytes);
        if !authenticated {
            if self.cx.authenticator().is_some() || is_auth_call(&frame) {
                return Step::BeforeAuth(frame);
            }
            // Auth is off: a connection that did not bind an agent first is the operator.
            if let Err(error) = self.cx.authenticate(Principal::Operator, false, None) {
                return Step::Refuse(error_response(None, &error).into_text(), error.to_string());
            }
        }
        Step::Answer(self.dispatch(frame).map(Reply::into_text))
    }

    /// Handles a frame; what it answers at once is for the read loop to send.
    fn dispatch(&self, frame: Frame) -> Option<Reply> {
        match frame {
            Frame::Rejected(error) => Some(error_response(None, &error)),
            Frame::Single(item) => match self.prepare(item, true) {
                Pending::Done(reply) => reply,
                Pending::Run(mut future) => {
                    // Most handlers answer on their first poll (ping, reads from memory):
                    // answer those here, without a task. One that would wait goes on its
                    // own task, so the read loop never waits on a handler. (Polled with a
                    // waker that does nothing: the task polls it again as it starts, with
                    // its own, so no wake-up is lost.)
                    let mut task = std::task::Context::from_waker(std::task::Waker::noop());
                    match future.as_mut().poll(&mut task) {
                        std::task::Poll::Ready(reply) => reply,
                        std::task::Poll::Pending => {
                            let cx = self.cx.clone();
                            tokio::spawn(async move {
                                if let Some(reply) = future.await {
                                    send_text(&cx, reply.into_text(), Route::Direct).await;
                                }
                            });
                            None
                        }
                    }
                }
            },
            Frame::Batch(items) => {
                self.batch(items);
                None
            }
        }
    }

    /// Only `session.auth` may pass; anything else gets -32001 and a close.
    /// A refused `session.auth` closes the connection too.
    async fn before_auth(&self, frame: Frame) -> Flow {
        let refused = RpcError::AuthRequired("the first frame must be session.auth".into());
        match frame {
            Frame::Single(Item::Call { id: Some(id), method, params }) if method == Auth::NAME => {
                if let Pending::Run(future) = self.prepare(Item::Call { id: Some(id), method, params }, false) {
                    self.send(future.await).await;
                }
                if self.cx.is_authenticated() {
                    return Flow::Continue;
                }
            }
            Frame::Single(Item::Call { id, .. } | Item::Invalid { id, .. }) => {
                self.send(Some(error_response(id, &refused))).await
            }
            _ => self.send(Some(error_response(None, &refused))).await,
        }
        self.cx.conn.outbound.close(CloseCode::Policy, "authentication required");
        Flow::Close
    }

    fn batch(&self, items: Vec<Item>) {
        let mut replies = Vec::new();
        let mut running = Vec::new();
        for item in items {
            match self.prepare(item, false) {
                Pending::Done(reply) => replies.extend(reply),
                Pending::Run(future) => running.push(future),
            }
        }
        let cx = self.cx.clone();
        tokio::spawn(async move {
            replies.extend(join_all(running).await.into_iter().flatten());
            // A batch of only notifications gets no reply at all.
            if !replies.is_empty() {
                let texts: Vec<String> = replies.into_iter().map(Reply::into_text).collect();
                send_text(&cx, format!("[{}]", texts.join(",")), Route::Direct).await;
            }
        });
    }

    /// `early`: a single call, which its handler may answer ahead of its return (`Early`).
    fn prepare(&self, item: Item, early: bool) -> Pending {
        match item {
            Item::Invalid { id, error } => Pending::Done(Some(error_response(id, &error))),
            Item::Reply { id, outcome } => {
                if !self.cx.conn.broker.complete(&id, outcome) {
                    tracing::debug!(%id, "ignoring a reply that no call waits for (late or unknown)");
                }
                Pending::Done(None)
            }
            Item::Call { id: None, method, params } if method == CANCELLED_NOTIFICATION => {
                self.cancel(params);
                Pending::Done(None)
            }
            Item::Call { id, method, params } => self.call(id, method, params, early),
        }
    }

    fn call(&self, id: Option<Id>, method: String, params: Option<Box<RawValue>>, early: bool) -> Pending {
        let conn = &self.cx.conn;
        let fail = |id: Option<Id>, error: RpcError| {
            tracing::debug!(%error, "request refused");
            Pending::Done(id.map(|id| error_response(Some(id), &error)))
        };
        let Some((name, entry)) = conn.registry.get(&method) else {
            return fail(id, RpcError::MethodNotFound(method));
        };
        if entry.phase == Phase::Session && !conn.handshake_done.load(std::sync::atomic::Ordering::Acquire) {
            return fail(id, RpcError::HandshakeRequired(method));
        }
        // Access is declared at registration and checked here, never in handlers.
        if entry.access == Access::Operator && !self.cx.is_operator() {
            return fail(id, RpcError::Denied(format!("{method} is for the operator only")));
        }
        if !entry.reads && self.cx.read_only() {
            return fail(id, RpcError::Denied(format!("{method} changes state, and this credential is read-only")));
        }
        let max_in_flight = self.config.limits.max_in_flight;
        if !conn.in_flight.acquire(max_in_flight) {
            let what = "too many requests in flight on this connection";
            return fail(id, RpcError::limit(what, "limits.max_in_flight", max_in_flight));
        }
        let cancelled = match &id {
            None => None,
            Some(request_id) => match conn.in_flight.track(request_id) {
                Some(rx) => Some(rx),
                None => {
                    conn.in_flight.release();
                    let error = RpcError::InvalidRequest(format!("id {request_id} is already in flight"));
                    return fail(id, error);
                }
            },
        };
        // Only a single call of a method that answers early, with an id to answer.
        let progress = (early && entry.early && id.is_some()).then(|| Arc::new(Progress::default()));
        let early = progress.clone().zip(id.clone()).map(|(progress, id)| Early::new(self.cx.clone(), id, progress));
        // A panicking handler costs its own request (-32603), not the connection.
        let handler = AssertUnwindSafe((entry.handler)(self.cx.clone(), params)).catch_unwind();
        // The task-local set only around a handler that may take it.
        let handler = match early {
            Some(early) => Either::Left(Early::scope(early, handler)),
            None => Either::Right(handler),
        };
        let handler = handler.map(move |outcome| {
            outcome.unwrap_or_else(|panic| {
                let message = panic_message(&*panic);
                tracing::error!(%method, panic = message, "handler panicked");
                Err(RpcError::Internal(format!("the handler of {method} failed unexpectedly")))
            })
        });
        let slot = Slot { cx: self.cx.clone(), id: id.clone(), progress: progress.clone() };
        let observer = conn.registry.observer.clone();
        let cx = self.cx.clone();
        Pending::Run(Box::pin(async move {
            let started = std::time::Instant::now();
            let result = match cancelled {
                None => handler.await,
                Some(cancelled) => tokio::select! {
                    result = handler => result,
                    Ok(()) = cancelled => Err(RpcError::Cancelled),
                },
            };
            drop(slot);
            if let Some(observer) = observer {
                observer.request(name, result.as_ref().map_or_else(RpcError::code, |_| 0), started.elapsed());
            }
            if let Err(error @ RpcError::Internal(_)) = &result {
                tracing::warn!(%error, "handler failed");
            }
            if progress.as_ref().is_some_and(|progress| progress.sent()) {
                // Answered ahead (`Early`); a close asked for after the reply happens now.
                if let Some(reason) = cx.conn.close_after_reply.lock().take() {
                    cx.conn.outbound.close(CloseCode::Policy, &reason);
                }
                return None;
            }
            let id = id?;
            Some(match result {
                Ok(result) => Reply::Result { id, result },
                Err(error) => error_response(Some(id), &error),
            })
        }))
    }

    fn cancel(&self, params: Option<Box<RawValue>>) {
        match params.map(|params| serde_json::from_str::<CancelledParams>(params.get())) {
            Some(Ok(p)) => {
                if !self.cx.conn.in_flight.cancel(&p.request_id) {
                    tracing::debug!(id = %p.request_id, "cancel for a request that is not in flight");
                }
            }
            _ => tracing::debug!("ignoring a malformed {CANCELLED_NOTIFICATION}"),
        }
    }

    /// Answers made on the read loop before authentication, through the queue. Not an
    /// `async fn`: the reply is made text now, and not kept beside it.
    fn send(&self, reply: Option<Reply>) -> impl Future<Output = ()> + '_ {
        let text = reply.map(Reply::into_text);
        async move {
            if let Some(text) = text {
                send_text(&self.cx, text, Route::Queue).await;
            }
        }
    }
}

fn is_auth_call(frame: &Frame) -> bool {
    matches!(frame, Frame::Single(Item::Call { id: Some(_), method, .. }) if method == Auth::NAME)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic.downcast_ref::<&str>().copied().or_else(|| panic.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
}

/// Frees an in-flight slot however the request ends, even if its task is dropped,
/// unless an early answer freed it already.
struct Slot {
    cx: Context,
    id: Option<Id>,
    progress: Option<Arc<Progress>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.progress.as_ref().is_some_and(|progress| !progress.release()) {
            return;
        }
        if let Some(id) = &self.id {
            self.cx.conn.in_flight.untrack(id);
        }
        self.cx.conn.in_flight.release();
    }
}

fn error_response(id: Option<Id>, error: &RpcError) -> Reply {
    Reply::Error(Response::error(id, ErrorObject::from(error)))
}

/// How an answer made on the read loop reaches the socket (a handler's own task
/// writes at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Written at once when the socket is idle: a handler's answer, or the read loop's
    /// to the last frame that has arrived (no later answer to batch it with).
    Direct,
    /// Through the writer task's queue, which batches a pipelined burst into one write.
    Queue,
}

async fn send_text(cx: &Context, text: String, route: Route) {
    // A closed connection has nobody left to tell.
    let _ = match route {
        Route::Direct => cx.conn.outbound.send_text(text).await,
        Route::Queue => cx.conn.outbound.queue_text(text).await,
    };
    if let Some(reason) = cx.conn.close_after_reply.lock().take() {
        cx.conn.outbound.close(CloseCode::Policy, &reason);
    }
}
