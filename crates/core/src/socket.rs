//! One connection's socket, written by the task that has a frame (a reply, a
//! callback) when nobody else is writing it, else by the writer task, which drains the
//! outbound queue and finishes any flush a producer began. A frame written at once costs
//! no hop to another task: a durable turn has two fewer wake-ups. The writer task and its
//! queue are made the first time a frame must wait (or the connection closes): an idle
//! connection, and one whose socket always takes its frames at once, has neither.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use futures_util::Sink;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;

use crate::outbound::{Closing, Outgoing};

pub(crate) type WsSink = Pin<Box<dyn Sink<Message, Error = WsError> + Send>>;

pub(crate) struct Socket {
    state: Mutex<State>,
    /// Messages queued for the writer task and not yet handed to the sink: while there
    /// are any, a producer queues too, so its own frames keep their order.
    queued: AtomicUsize,
    /// Asks the writer task to finish a write a producer began (the socket was full).
    owed: Notify,
    /// The outbound queue's sending side, made with the writer task.
    queue: OnceLock<mpsc::Sender<Outgoing>>,
    /// The queue's size (`limits.outbound_queue`, at least 1).
    capacity: usize,
    writer: Mutex<Writer>,
    /// Where the writer task is spawned: a frame may be written from a thread outside
    /// the runtime (an early answer, from the journal's writer thread).
    runtime: tokio::runtime::Handle,
}

/// The writer task's inputs until it starts, then its handle.
enum Writer {
    /// Not set yet, or taken at the close.
    Gone,
    Waiting {
        closing: watch::Receiver<Option<Closing>>,
        close_timeout: Duration,
    },
    Started(JoinHandle<()>),
}

struct State {
    sink: WsSink,
    /// The writer task owns the sink until its flush completes: a producer polling it
    /// meanwhile would replace the writer as the task the socket wakes.
    busy: bool,
}

/// What became of a message offered to the socket directly.
pub(crate) enum Direct {
    /// Handed to the sink (flushed, or left for the writer task to flush).
    Written,
    /// The socket failed: the writer task finds out and ends the connection's writing.
    Failed,
    /// Somebody else is writing, or frames wait in the queue: queue it behind them.
    Queue(Outgoing),
}

impl Socket {
    /// A socket over `sink`, whose queue (made when first needed) holds `capacity` messages.
    pub(crate) fn new(sink: WsSink, capacity: usize) -> Arc<Socket> {
        let state = Mutex::new(State { sink, busy: false });
        Arc::new(Socket {
            state,
            queued: AtomicUsize::new(0),
            owed: Notify::new(),
            queue: OnceLock::new(),
            capacity: capacity.max(1),
            writer: Mutex::new(Writer::Gone),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    /// What the writer task will need, kept until a frame must wait for it.
    pub(crate) fn set_writer(&self, closing: watch::Receiver<Option<Closing>>, close_timeout: Duration) {
        *self.writer.lock() = Writer::Waiting { closing, close_timeout };
    }

    /// The outbound queue, made now with the writer task that drains it if they were
    /// not yet: a frame must wait, or a flush was left owed. `None` if no writer was set.
    pub(crate) fn queue(self: &Arc<Self>) -> Option<&mpsc::Sender<Outgoing>> {
        if let Some(queue) = self.queue.get() {
            return Some(queue);
        }
        let mut writer = self.writer.lock();
        *writer = match std::mem::replace(&mut *writer, Writer::Gone) {
            Writer::Waiting { closing, close_timeout } => {
                let (queue, frames) = mpsc::channel(self.capacity);
                let _ = self.queue.set(queue);
                Writer::Started(self.runtime.spawn(write_loop(self.clone(), frames, closing, close_timeout)))
            }
            // Made meanwhile by another producer, or gone.
            other => other,
        };
        self.queue.get()
    }

    /// The queue, if the writer task has started.
    pub(crate) fn started_queue(&self) -> Option<&mpsc::Sender<Outgoing>> {
        self.queue.get()
    }

    /// The writer task has ended.
    pub(crate) fn queue_closed(&self) -> bool {
        self.queue.get().is_some_and(mpsc::Sender::is_closed)
    }

    /// Free slots in the queue, and its size (all free while it is not made).
    pub(crate) fn room(&self) -> (usize, usize) {
        match self.queue.get() {
            Some(queue) => (queue.capacity(), queue.max_capacity()),
            None => (self.capacity, self.capacity),
        }
    }

    /// The writer task, started now if it had not (to write the close), for the
    /// connection to wait for at its end.
    pub(crate) fn take_writer(self: &Arc<Self>) -> Option<JoinHandle<()>> {
        let _ = self.queue();
        match std::mem::replace(&mut *self.writer.lock(), Writer::Gone) {
            Writer::Started(handle) => Some(handle),
            _ => None,
        }
    }

    /// Writes `first` and then `rest` and flushes them now, with one flush, without
    /// waiting: if the socket is idle and nothing is queued. A flush the socket cannot
    /// take at once is left to the writer. On `Queue(message)`, that message and what
    /// `rest` still holds go to the queue, in order.
    pub(crate) fn try_write_all(self: &Arc<Self>, first: Outgoing, rest: &mut dyn Iterator<Item = Outgoing>) -> Direct {
        if self.queued.load(Ordering::Acquire) != 0 {
            return Direct::Queue(first);
        }
        let Some(mut state) = self.state.try_lock() else { return Direct::Queue(first) };
        // Checked again under the lock, where the writer hands queued frames to the sink.
        if state.busy || self.queued.load(Ordering::Acquire) != 0 {
            return Direct::Queue(first);
        }
        // No waker of ours: whenever the sink is not ready the writer task takes over.
        let mut cx = Context::from_waker(Waker::noop());
        let mut next = Some(first);
        let outcome = loop {
            let Some(message) = next.take() else {
                break match state.sink.as_mut().poll_flush(&mut cx) {
                    Poll::Ready(Ok(())) => Ok(()),
                    Poll::Ready(Err(_)) => Err(Direct::Failed),
                    Poll::Pending => Err(Direct::Written),
                };
            };
            match state.sink.as_mut().poll_ready(&mut cx) {
                Poll::Pending => break Err(Direct::Queue(message)),
                Poll::Ready(Err(_)) => break Err(Direct::Failed),
                Poll::Ready(Ok(())) if state.sink.as_mut().start_send(message.into()).is_err() => {
                    break Err(Direct::Failed);
                }
                Poll::Ready(Ok(())) => next = rest.next(),
            }
        };
        match outcome {
            Ok(()) => Direct::Written,
            Err(direct) => {
                state.busy = true;
                drop(state);
                self.owed.notify_one();
                // The writer task finishes the flush: started now if it was not.
                let _ = self.queue();
                direct
            }
        }
    }

    /// Hands one message to the sink, waiting for room; `queued` when it came off the queue.
    async fn feed(&self, message: Message, queued: bool) -> Result<(), WsError> {
        let mut message = Some(message);
        poll_fn(|cx| {
            let mut state = self.state.lock();
            state.busy = true;
            ready!(state.sink.as_mut().poll_ready(cx))?;
            state.sink.as_mut().start_send(message.take().expect("a message is fed once"))?;
            if queued {
                self.queued.fetch_sub(1, Ordering::AcqRel);
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Flushes the sink, then lets producers write it directly again.
    async fn flush(&self) -> Result<(), WsError> {
        poll_fn(|cx| {
            let mut state = self.state.lock();
            state.busy = true;
            ready!(state.sink.as_mut().poll_flush(cx))?;
            state.busy = false;
            Poll::Ready(Ok(()))
        })
        .await
    }

    async fn close(&self) -> Result<(), WsError> {
        poll_fn(|cx| self.state.lock().sink.as_mut().poll_close(cx)).await
    }
}

/// Counts a message about to be queued, until the writer hands it to the sink (or
/// this drops, the message not queued after all).
pub(crate) struct Queueing<'a>(Option<&'a Socket>);

impl<'a> Queueing<'a> {
    pub(crate) fn new(socket: &'a Socket) -> Queueing<'a> {
        socket.queued.fetch_add(1, Ordering::AcqRel);
        Queueing(Some(socket))
    }

    /// The message is in the queue: the writer uncounts it.
    pub(crate) fn queued(mut self) {
        self.0 = None;
    }
}

impl Drop for Queueing<'_> {
    fn drop(&mut self) {
        if let Some(socket) = self.0 {
            socket.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The writer task: writes queued messages, batching whatever is ready into one flush,
/// and finishes flushes producers began; on closing, the queue's rest and the close frame.
pub(crate) async fn write_loop(
    socket: Arc<Socket>,
    mut queue: mpsc::Receiver<Outgoing>,
    mut closing: watch::Receiver<Option<Closing>>,
    close_timeout: Duration,
) {
    loop {
        tokio::select! {
            biased;
            _ = closing.changed() => break,
            message = queue.recv() => {
                let Some(message) = message else { break };
                if write_ready(&socket, message, &mut queue).await.is_err() {
                    return;
                }
            }
            () = socket.owed.notified() => {
                if socket.flush().await.is_err() {
                    return;
                }
            }
        }
    }
    let how = closing.borrow().clone();
    // From here on the writer task alone writes the socket.
    socket.state.lock().busy = true;
    let _ = timeout(close_timeout, async {
        // Replies queued before the close (e.g. the -32001 that explains it) go first.
        while let Ok(message) = queue.try_recv() {
            socket.feed(message.into(), true).await?;
        }
        if let Some(Closing::Local(frame)) = how {
            socket.feed(Message::Close(Some(frame)), false).await?;
        }
        socket.close().await
    })
    .await;
}

async fn write_ready(socket: &Socket, first: Outgoing, queue: &mut mpsc::Receiver<Outgoing>) -> Result<(), WsError> {
    socket.feed(first.into(), true).await?;
    while let Ok(message) = queue.try_recv() {
        socket.feed(message.into(), true).await?;
    }
    socket.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::Outbound;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    /// A socket that can be full (nothing is ready, nothing flushes) or stuck (a frame is
    /// taken, but does not flush).
    #[derive(Clone, Default)]
    struct Wire(Arc<Mutex<WireState>>, Arc<Notify>);

    #[derive(Default)]
    struct WireState {
        full: bool,
        stuck: bool,
        /// Accepted by `start_send`, not yet flushed.
        buffer: Vec<String>,
        delivered: Vec<String>,
        /// Flushes that delivered something: one system call each on a real socket.
        flushes: usize,
        waker: Option<Waker>,
    }

    impl Wire {
        fn full(&self, full: bool) {
            let mut state = self.0.lock();
            state.full = full;
            state.stuck = full;
            if let Some(waker) = state.waker.take() {
                waker.wake();
            }
        }

        fn delivered(&self) -> Vec<String> {
            self.0.lock().delivered.clone()
        }

        async fn until_delivered(&self, n: usize) -> Vec<String> {
            loop {
                let notified = self.1.notified();
                if self.0.lock().delivered.len() >= n {
                    return self.delivered();
                }
                notified.await;
            }
        }

        fn poll(&self, cx: &mut Context<'_>, ready_only: bool) -> Poll<Result<(), WsError>> {
            let mut state = self.0.lock();
            if state.full || (state.stuck && !ready_only) {
                state.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if !ready_only && !state.buffer.is_empty() {
                let flushed = std::mem::take(&mut state.buffer);
                state.delivered.extend(flushed);
                state.flushes += 1;
                self.1.notify_waiters();
            }
            Poll::Ready(Ok(()))
        }
    }

    impl Sink<Message> for Wire {
        type Error = WsError;
        fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll(cx, true)
        }
        fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
            self.0.lock().buffer.push(message.into_text().unwrap().to_string());
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll(cx, false)
        }
        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.poll(cx, false)
        }
    }

    fn connect(wire: &Wire) -> (Outbound, Arc<Socket>) {
        let socket = Socket::new(Box::pin(wire.clone()), 8);
        let (outbound, _closing) = Outbound::new(socket.clone(), Duration::from_secs(5), Duration::from_secs(5));
        (outbound, socket)
    }

    /// Lets the writer task end (the connection closes) and waits for it.
    async fn finish(outbound: Outbound, socket: &Arc<Socket>) {
        let writer = socket.take_writer().expect("a writer was set");
        drop(outbound);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn an_idle_socket_is_written_by_the_sender_itself() {
        let wire = Wire::default();
        let (outbound, socket) = connect(&wire);
        outbound.send_text("a".into()).await.unwrap();
        outbound.send_text("b".into()).await.unwrap();
        outbound.try_send(Outgoing::Ping);
        // The sender wrote and flushed: no writer task, and no queue, were made.
        assert_eq!(wire.delivered(), ["a", "b", ""]);
        assert!(socket.started_queue().is_none(), "an idle socket took every frame at once");
    }

    #[tokio::test]
    async fn texts_sent_together_are_written_with_one_flush() {
        let wire = Wire::default();
        let (outbound, socket) = connect(&wire);
        outbound.send_texts(vec!["a".into(), "b".into(), "c".into()]).await.unwrap();
        assert_eq!(wire.delivered(), ["a", "b", "c"]);
        assert_eq!(wire.0.lock().flushes, 1);
        assert!(socket.started_queue().is_none());
    }

    #[tokio::test]
    async fn texts_sent_together_to_a_full_socket_are_queued_in_order() {
        let wire = Wire::default();
        let (outbound, socket) = connect(&wire);
        wire.full(true);
        outbound.send_texts(vec!["a".into(), "b".into()]).await.unwrap();
        assert!(wire.delivered().is_empty());
        assert!(socket.started_queue().is_some(), "a queued frame makes the queue and its writer");
        wire.full(false);
        outbound.send_texts(vec!["c".into(), "d".into()]).await.unwrap();
        assert_eq!(wire.until_delivered(4).await, ["a", "b", "c", "d"]);
        finish(outbound, &socket).await;
    }

    #[tokio::test]
    async fn a_full_socket_sends_frames_through_the_queue_in_order() {
        let wire = Wire::default();
        let (outbound, socket) = connect(&wire);
        wire.full(true);
        outbound.send_text("a".into()).await.unwrap();
        outbound.send_text("b".into()).await.unwrap();
        assert!(wire.delivered().is_empty());
        wire.full(false);
        outbound.send_text("c".into()).await.unwrap();
        assert_eq!(wire.until_delivered(3).await, ["a", "b", "c"]);
        finish(outbound, &socket).await;
    }

    #[tokio::test]
    async fn a_flush_the_socket_could_not_take_starts_the_writer_to_finish_it() {
        let wire = Wire::default();
        let (outbound, socket) = connect(&wire);
        outbound.send_text("a".into()).await.unwrap();
        // Ready for a frame, but the flush would block: the frame waits in the sink.
        wire.0.lock().stuck = true;
        outbound.send_text("b".into()).await.unwrap();
        assert_eq!(wire.delivered(), ["a"]);
        assert!(socket.started_queue().is_some(), "an owed flush starts the writer");
        wire.full(false);
        assert_eq!(wire.until_delivered(2).await, ["a", "b"]);
        finish(outbound, &socket).await;
    }

    #[tokio::test]
    async fn a_closing_connection_without_a_writer_gets_one_to_send_its_close() {
        let wire = Wire::default();
        let (outbound, socket) = connect(&wire);
        outbound.send_text("a".into()).await.unwrap();
        assert!(socket.started_queue().is_none());
        outbound.close(CloseCode::Policy, "bye");
        // Closing: frames go through the queue, after which the writer sends the close.
        assert!(outbound.send_text("b".into()).await.is_ok());
        finish(outbound, &socket).await;
        assert_eq!(wire.delivered(), ["a", "b", "bye"]);
    }
}
