//! The group-commit writer: one thread, one write and one sync per batch of
//! whatever appends are waiting.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use ulid::Ulid;

use crate::journal::{Loc, Shared, StoreError};
use crate::segment;

/// Records already framed by the caller, with where each frame starts.
pub(crate) struct Append {
    pub(crate) frames: Vec<u8>,
    /// (run, seq, frame offset within `frames`, frame length)
    pub(crate) index: Vec<(Ulid, u32, usize, usize)>,
    pub(crate) done: oneshot::Sender<Result<(), StoreError>>,
}

pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) file: File,
    pub(crate) segment: u32,
    pub(crate) size: u64,
}

impl Writer {
    pub(crate) fn run(mut self, queue: mpsc::Receiver<Append>) {
        let mut buf = Vec::new();
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            batch.extend(queue.try_iter());
            let result = self.commit(&mut batch, &mut buf);
            if let Err(error) = &result {
                // After a failed sync the page cache cannot be trusted: refuse everything from now on.
                self.shared.poisoned.store(true, Ordering::Release);
                tracing::error!(%error, "journal write failed; the journal now refuses appends");
            }
            for append in batch {
                let _ = append.done.send(result.clone());
            }
        }
    }

    fn commit(&mut self, batch: &mut [Append], buf: &mut Vec<u8>) -> Result<(), StoreError> {
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        let bytes: usize = batch.iter().map(|a| a.frames.len()).sum();
        if self.size > 0 && self.size + bytes as u64 > self.shared.options.segment_bytes {
            self.roll()?;
        }
        buf.clear();
        for append in batch.iter() {
            buf.extend_from_slice(&append.frames);
        }
        self.file.write_all(buf)?;
        self.shared.fsync.sync(&self.file)?;

        let mut state = self.shared.state.lock().unwrap();
        let mut base = self.size;
        for append in batch.iter() {
            for &(run_id, seq, at, len) in &append.index {
                let loc = Loc { segment: self.segment, offset: base + at as u64, len: len as u32, seq };
                state.runs.entry(run_id).or_default().locs.push(loc);
            }
            base += append.frames.len() as u64;
        }
        drop(state);
        self.size += bytes as u64;
        Ok(())
    }

    /// Seals the active segment (already synced) and starts the next one.
    fn roll(&mut self) -> Result<(), StoreError> {
        let next = self.segment + 1;
        let file = segment::create(&self.shared.dir, next, self.shared.fsync.as_ref())?;
        let reader = Arc::new(file.try_clone()?);
        self.shared.state.lock().unwrap().segments.insert(next, reader);
        self.file = file;
        self.segment = next;
        self.size = 0;
        tracing::debug!(segment = next, "journal segment rolled");
        Ok(())
    }
}

pub(crate) type Queue = Mutex<mpsc::Sender<Append>>;
