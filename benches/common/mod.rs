//! What both benches share: a measurement window over worker tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts completed operations, only inside the measured window.
#[derive(Clone, Default)]
pub struct Meter {
    counted: Arc<AtomicU64>,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Meter {
    /// One operation completed.
    pub fn tick(&self) {
        if self.counting.load(Ordering::Relaxed) {
            self.counted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Workers loop until this turns true.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Warms up, measures for `run_for`, stops the workers and waits for them: operations per second.
    pub async fn measure(
        &self,
        workers: Vec<tokio::task::JoinHandle<()>>,
        warm_up: Duration,
        run_for: Duration,
    ) -> f64 {
        tokio::time::sleep(warm_up).await;
        self.counting.store(true, Ordering::Relaxed);
        let start = Instant::now();
        tokio::time::sleep(run_for).await;
        let n = self.counted.load(Ordering::Relaxed);
        let elapsed = start.elapsed();
        self.stop.store(true, Ordering::Relaxed);
        for worker in workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        }
        n as f64 / elapsed.as_secs_f64()
    }
}
