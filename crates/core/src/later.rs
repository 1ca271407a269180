//! The rest of a handler whose request was answered early: a proposal's task after its
//! durable turn's answer went out from the journal's thread (its span, its metrics).
//! The wake-up that the append's completion sends it is held back instead of sent from
//! the journal's thread: the next frame any connection reads wakes it, on a runtime
//! thread that is running anyway, and a sweeper thread within `SWEEP` if no frame comes.
//! Sent from the journal's thread, it unparked an idle runtime worker just as the answer
//! woke the client, and the two contended for the CPUs (README, Benchmarks: "the task's
//! wake-up").

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::early::Progress;

/// How long a held wake-up waits at most when no frame comes.
const SWEEP: Duration = Duration::from_millis(5);
/// Empty sweeps before the sweeper waits for the next held wake-up.
const IDLE_SWEEPS: u32 = 20;

static HELD: Held = Held {
    wakers: Mutex::new(Vec::new()),
    count: AtomicUsize::new(0),
    active: Mutex::new(false),
    signal: Condvar::new(),
};
static SWEEPER: OnceLock<()> = OnceLock::new();

struct Held {
    wakers: Mutex<Vec<Waker>>,
    /// How many are held (set under `wakers`' lock): a frame reads this, not the lock.
    count: AtomicUsize,
    /// The sweeper is sweeping; when not, it waits for `signal`.
    active: Mutex<bool>,
    signal: Condvar,
}

impl Held {
    fn hold(&'static self, waker: Waker) {
        {
            let mut wakers = self.wakers.lock();
            wakers.push(waker);
            self.count.store(wakers.len(), Ordering::Release);
        }
        let mut active = self.active.lock();
        if !*active {
            *active = true;
            SWEEPER.get_or_init(|| {
                let spawned = std::thread::Builder::new().name("tether-later".into()).spawn(|| HELD.sweep());
                if let Err(error) = spawned {
                    tracing::error!(%error, "could not start the thread that wakes held handlers");
                }
            });
            self.signal.notify_one();
        }
    }

    /// Wakes every held handler; how many there were.
    fn wake_all(&self) -> usize {
        let wakers = {
            let mut wakers = self.wakers.lock();
            self.count.store(0, Ordering::Release);
            std::mem::take(&mut *wakers)
        };
        let n = wakers.len();
        wakers.into_iter().for_each(Waker::wake);
        n
    }

    fn sweep(&self) {
        loop {
            {
                let mut active = self.active.lock();
                while !*active {
                    self.signal.wait(&mut active);
                }
            }
            let mut idle = 0;
            while idle < IDLE_SWEEPS {
                std::thread::sleep(SWEEP);
                idle = if self.wake_all() == 0 { idle + 1 } else { 0 };
            }
            let mut active = self.active.lock();
            // One held after the last sweep saw `active` set and did not signal: sweep on.
            if self.count.load(Ordering::Acquire) == 0 {
                *active = false;
            }
        }
    }
}

/// Wakes the handlers held back: called for every frame a connection reads.
pub(crate) fn wake_held() {
    if HELD.count.load(Ordering::Acquire) != 0 {
        HELD.wake_all();
    }
}

/// A request answered ahead of its handler ([`crate::Prepared::later`]).
pub struct Later {
    pub(crate) progress: Arc<Progress>,
}

impl Later {
    /// Drives `f` (the wait its answer is sent at the end of); a wake-up that comes after
    /// the answer was written is held back (see the module). One that comes before (the
    /// socket was busy, and the handler's own result must answer) is not.
    pub async fn run<F: Future>(self, f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        // (the task's waker, the one wrapping it): made again only if the task's changes.
        let mut wrapped: Option<(Waker, Waker)> = None;
        std::future::poll_fn(|cx| {
            let waker = match &wrapped {
                Some((task, waker)) if task.will_wake(cx.waker()) => waker,
                _ => {
                    let holding = Arc::new(Holding { task: cx.waker().clone(), progress: self.progress.clone() });
                    &wrapped.insert((cx.waker().clone(), Waker::from(holding))).1
                }
            };
            f.as_mut().poll(&mut Context::from_waker(waker))
        })
        .await
    }
}

/// The handler's own waker, behind the check.
struct Holding {
    task: Waker,
    progress: Arc<Progress>,
}

impl Wake for Holding {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.progress.sent() {
            HELD.hold(self.task.clone());
        } else {
            self.task.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A waker that counts its wake-ups.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// `Later::run` over a oneshot, polled once by hand with a counting waker.
    fn parked(progress: Progress) -> (tokio::sync::oneshot::Sender<()>, Arc<Count>, impl Future) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let mut run = Box::pin(Later { progress: Arc::new(progress) }.run(rx));
        let waker = Waker::from(count.clone());
        assert!(run.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        (tx, count, run)
    }

    #[test]
    fn a_wake_up_after_the_answer_is_held_until_a_frame_or_the_sweeper_and_one_before_it_is_not() {
        let (tx, count, _run) = parked(Progress::default());
        tx.send(()).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "not answered yet: the handler must answer, at once");

        let (tx, count, _run) = parked(Progress::answered());
        let held_at = Instant::now();
        tx.send(()).unwrap();
        let woken = count.0.load(Ordering::SeqCst);
        // The sweeper's first pass comes `SWEEP` after this very hold started it.
        if held_at.elapsed() < SWEEP {
            assert_eq!(woken, 0, "answered: the wake-up is held, not sent from this thread");
        }
        wake_held();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a frame resumes it");

        let (tx, count, _run) = parked(Progress::answered());
        tx.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while count.0.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no frame came, and the sweeper did not resume it");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
