//! A request answered before its handler returns, from any thread. The runs domain
//! hands a proposal's reply to the journal's writer thread, which writes it the
//! moment the turn is synced: no hop back to the handler's task before the client
//! has its answer (a durable turn's latency, README "Benchmarks").

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::Serialize;
use tether_proto::jsonrpc::Id;

use crate::context::Context;
use crate::outbound::Outgoing;
use crate::reply::ResultText;
use crate::socket::Direct;

tokio::task_local! {
    static EARLY: RefCell<Slot>;
}

/// The task-local: the answer until its handler takes it, and where it is since.
struct Slot {
    early: Option<Early>,
    progress: Arc<Progress>,
}

/// Where a request's early answer is: shared by the dispatcher and the answer.
#[derive(Default)]
pub(crate) struct Progress(AtomicU8);

const RELEASED: u8 = 1;
const SENT: u8 = 2;

impl Progress {
    /// A request answered already, for tests of what follows.
    #[cfg(test)]
    pub(crate) fn answered() -> Progress {
        Progress(AtomicU8::new(SENT))
    }

    /// Takes the request out of the in-flight set's count, once: true for whichever
    /// of the early answer and the dispatcher's slot comes first (a cancelled request's
    /// slot may drop while its answer is being sent).
    pub(crate) fn release(&self) -> bool {
        self.0.compare_exchange(0, RELEASED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Its reply is written: the handler's result is not sent again.
    pub(crate) fn sent(&self) -> bool {
        self.0.load(Ordering::Acquire) == SENT
    }
}

/// The right to answer one request ahead of its handler's return.
pub struct Early {
    cx: Context,
    id: Id,
    progress: Arc<Progress>,
}

impl Early {
    pub(crate) fn new(cx: Context, id: Id, progress: Arc<Progress>) -> Early {
        Early { cx, id, progress }
    }

    /// Runs `handler` with this answer for it to take.
    pub(crate) fn scope<F: Future>(early: Early, handler: F) -> impl Future<Output = F::Output> {
        let progress = early.progress.clone();
        EARLY.scope(RefCell::new(Slot { early: Some(early), progress }), handler)
    }

    /// This request's early answer, from within its handler, once: `None` unless the
    /// method was registered `answers_early`, and for a notification, an item of a batch
    /// (whose replies go together) or a second take.
    pub fn take() -> Option<Early> {
        EARLY.try_with(|slot| slot.borrow_mut().early.take()).ok().flatten()
    }

    /// Whether this request's reply was written ahead of its handler's return, from
    /// within the handler's task: its result is then never sent, nor need be serialised.
    pub(crate) fn answered() -> bool {
        EARLY.try_with(|slot| slot.borrow().progress.sent()).unwrap_or(false)
    }

    /// The reply to `result`, made now (on the handler's task), to be sent from
    /// anywhere. `None` if it does not serialise (the handler answers as usual).
    pub fn prepare<T: Serialize>(self, result: &T) -> Option<Prepared> {
        let text = ResultText::of(result).ok()?.finish(&self.id);
        Some(Prepared { early: self, text })
    }
}

/// A reply made ahead, for [`Prepared::send`].
pub struct Prepared {
    early: Early,
    text: String,
}

impl Prepared {
    /// This request, to finish its handler with ([`crate::Later::run`]) once the answer is out.
    pub fn later(&self) -> crate::Later {
        crate::Later { progress: self.early.progress.clone() }
    }

    /// Writes the reply now, from any thread, if the socket takes it at once. The
    /// request leaves the in-flight set first, so its id is free the moment the client
    /// reads the reply. If the socket is busy (a frame queued or being written) nothing
    /// is sent, and the handler's own result answers as usual.
    pub fn send(self) {
        let Prepared { early, text } = self;
        let conn = &early.cx.conn;
        if !early.progress.release() {
            // Ended already (cancelled, or the connection closed): nobody waits for it.
            return;
        }
        conn.in_flight.untrack(&early.id);
        conn.in_flight.release();
        if let Direct::Written = conn.outbound.write_now(Outgoing::Text(text), &mut std::iter::empty()) {
            early.progress.0.store(SENT, Ordering::Release);
        }
    }
}
