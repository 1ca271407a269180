//! How a message reaches one connection's socket: written at once by its producer
//! when the socket is idle (`socket.rs`), else through the bounded queue the writer
//! task drains (both made the first time a frame must wait); and the signal that asks
//! the connection to close.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::socket::{Direct, Queueing, Socket};

/// Why a connection is closing.
#[derive(Debug, Clone)]
pub(crate) enum Closing {
    /// The peer closed or vanished: flush what tungstenite owes it, send nothing new.
    Peer,
    /// We close, with this code and reason.
    Local(CloseFrame),
}

#[derive(Debug, thiserror::Error)]
#[error("connection closed")]
pub struct Closed;

/// What the daemon sends a client: a text frame (an answer, a call, a notification) or
/// a keepalive ping. The queue holds these, 24 bytes, not tungstenite's 56-byte
/// `Message`: a queue's first block of 32 slots is allocated with every connection.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    Ping,
}

impl From<Outgoing> for Message {
    fn from(outgoing: Outgoing) -> Message {
        match outgoing {
            Outgoing::Text(text) => Message::Text(text.into()),
            Outgoing::Ping => Message::Ping(Bytes::new()),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Outbound {
    closing: watch::Sender<Option<Closing>>,
    stall_timeout: Duration,
    socket: Arc<Socket>,
}

impl Outbound {
    /// A connection's way out through `socket`, whose writer task (and queue) start
    /// when a frame first has to wait.
    pub(crate) fn new(
        socket: Arc<Socket>,
        stall_timeout: Duration,
        close_timeout: Duration,
    ) -> (Self, watch::Receiver<Option<Closing>>) {
        let (closing, closing_rx) = watch::channel(None);
        socket.set_writer(closing_rx.clone(), close_timeout);
        (Outbound { closing, stall_timeout, socket }, closing_rx)
    }

    /// Writes a message at once if the socket is idle, else queues it. A queue that
    /// stays full for the stall timeout means the client stopped reading: the
    /// connection is closed with 1008. The write is tried when this is called: the
    /// future holds only a wait for the queue, small in every future that sends.
    pub(crate) fn send(&self, message: Outgoing) -> impl Future<Output = Result<(), Closed>> + '_ {
        let queued = match self.write_now(message, &mut std::iter::empty()) {
            Direct::Written => Ok(None),
            Direct::Failed => Err(Closed),
            Direct::Queue(message) => Ok(Some(message)),
        };
        async move {
            match queued? {
                None => Ok(()),
                Some(message) => self.queue(message).await,
            }
        }
    }

    /// Queues a message for the writer task, which batches what is ready into one write.
    pub(crate) async fn queue_text(&self, text: String) -> Result<(), Closed> {
        self.queue(Outgoing::Text(text)).await
    }

    async fn queue(&self, message: Outgoing) -> Result<(), Closed> {
        let Some(queue) = self.socket.queue() else { return Err(Closed) };
        let counted = Queueing::new(&self.socket);
        let message = match queue.try_send(message) {
            Ok(()) => {
                counted.queued();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Closed),
            Err(mpsc::error::TrySendError::Full(message)) => message,
        };
        // Boxed: inline, the wait's timer and channel futures would size every future
        // that may queue (the read loop's among them) for as long as it lives.
        match Box::pin(timeout(self.stall_timeout, queue.send(message))).await {
            Ok(result) => {
                result.map_err(|_| Closed)?;
                counted.queued();
                Ok(())
            }
            Err(_) => {
                tracing::info!(
                    stall_timeout_ms = self.stall_timeout.as_millis() as u64,
                    "closing a connection whose client stopped reading"
                );
                self.close(
                    CloseCode::Policy,
                    "outbound queue stayed full: client is not reading (limits.outbound_queue, limits.stall_timeout_ms)",
                );
                Err(Closed)
            }
        }
    }

    pub(crate) fn send_text(&self, text: String) -> impl Future<Output = Result<(), Closed>> + '_ {
        self.send(Outgoing::Text(text))
    }

    /// Sends texts as `send` sends one, written with one flush when the socket is idle
    /// (one system call for a delivery to several subscriptions), else queued in order.
    pub(crate) async fn send_texts(&self, texts: Vec<String>) -> Result<(), Closed> {
        let mut rest = texts.into_iter().map(Outgoing::Text);
        let Some(first) = rest.next() else { return Ok(()) };
        match self.write_now(first, &mut rest) {
            Direct::Written => Ok(()),
            Direct::Failed => Err(Closed),
            Direct::Queue(message) => {
                self.queue(message).await?;
                for message in rest {
                    self.queue(message).await?;
                }
                Ok(())
            }
        }
    }

    /// Sends a message only if there is room; for pings, which are worthless late.
    pub(crate) fn try_send(&self, message: Outgoing) {
        let Direct::Queue(message) = self.write_now(message, &mut std::iter::empty()) else { return };
        let Some(queue) = self.socket.queue() else { return };
        let counted = Queueing::new(&self.socket);
        if queue.try_send(message).is_ok() {
            counted.queued();
        }
    }

    /// The socket, written by this task now (`message`, then `rest`, one flush), unless
    /// the connection is closing (the writer task then sends what is queued, and the
    /// close frame last). On `Queue(m)`, `m` and what `rest` still holds are for the queue.
    pub(crate) fn write_now(&self, message: Outgoing, rest: &mut dyn Iterator<Item = Outgoing>) -> Direct {
        if self.is_closed() {
            return Direct::Queue(message);
        }
        self.socket.try_write_all(message, rest)
    }

    /// Free slots in the queue, and its size: background senders keep room for replies.
    pub(crate) fn room(&self) -> (usize, usize) {
        self.socket.room()
    }

    /// Closing, or the writer task has ended (its queue is closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.closing.borrow().is_some() || self.socket.queue_closed()
    }

    /// Resolves once the connection is closing or closed.
    pub(crate) async fn closed(&self) {
        let mut closing = self.closing.subscribe();
        match self.socket.started_queue() {
            Some(queue) => tokio::select! {
                () = queue.closed() => {}
                _ = closing.wait_for(Option::is_some) => {}
            },
            // No writer task yet, so none has ended: the connection ends by closing.
            None => drop(closing.wait_for(Option::is_some).await),
        }
    }

    /// Asks the connection to close; the first reason wins.
    pub(crate) fn close(&self, code: CloseCode, reason: &str) {
        let frame = CloseFrame { code, reason: truncate_reason(reason).into() };
        self.set_closing(Closing::Local(frame));
    }

    pub(crate) fn set_closing(&self, closing: Closing) {
        self.closing.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(closing);
            true
        });
    }
}

/// A close reason must fit in a control frame (123 bytes of payload for the text).
fn truncate_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
