//! The group-commit writer: one thread, one write and one sync per batch of
//! whatever appends are waiting. It also compacts sealed segments, so nothing
//! else ever touches a segment file.

use parking_lot::Mutex;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use tokio::sync::oneshot;
use ulid::Ulid;

use crate::frame::{self, Decoded};
use crate::journal::{Loc, Segment, Shared, StoreError};
use crate::{failpoint, retired, segment};

pub(crate) enum Op {
    Append(Append),
    /// Reclaim sealed segments that are mostly forgotten runs; answered when done.
    Compact(oneshot::Sender<()>),
}

/// Records already framed by the caller, with where each frame starts.
pub(crate) struct Append {
    pub(crate) frames: Vec<u8>,
    /// (run, seq, frame offset within `frames`, frame length, is a tombstone)
    pub(crate) index: Vec<(Ulid, u32, usize, usize, bool)>,
    pub(crate) done: oneshot::Sender<Result<(), StoreError>>,
    /// Run here once the records are durable and indexed, before `done` is answered.
    pub(crate) then: Option<Then>,
}

/// What an appender has done on the writer thread the moment its records are durable.
pub type Then = Box<dyn FnOnce() + Send>;

pub(crate) type Queue = Mutex<mpsc::Sender<Op>>;

pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) file: File,
    pub(crate) segment: u32,
    /// Where the next frame goes: the end of the records.
    pub(crate) size: u64,
    /// The file's length: past `size`, zeros written ahead (`preallocate`).
    pub(crate) allocated: u64,
}

impl Writer {
    pub(crate) fn run(mut self, queue: mpsc::Receiver<Op>) {
        let mut buf = Vec::new();
        while let Ok(first) = queue.recv() {
            let mut batch = Vec::new();
            let mut compactions = Vec::new();
            for op in std::iter::once(first).chain(queue.try_iter()) {
                match op {
                    Op::Append(append) => batch.push(append),
                    Op::Compact(done) => compactions.push(done),
                }
            }
            if !batch.is_empty() {
                let result = self.commit(&mut batch, &mut buf);
                if let Err(error) = &result {
                    // After a failed sync the page cache cannot be trusted: refuse everything from now on.
                    self.shared.poisoned.store(true, Ordering::Release);
                    tracing::error!(%error, "journal write failed; the journal now refuses appends");
                }
                for append in batch {
                    if let (Ok(()), Some(then)) = (&result, append.then) {
                        // The appender's code: its panic must not end the journal's only writer.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(then)).is_err() {
                            tracing::error!("an append's follow-up panicked on the journal thread");
                        }
                    }
                    let _ = append.done.send(result.clone());
                }
            }
            if !compactions.is_empty() {
                if let Err(error) = self.compact() {
                    tracing::warn!(%error, "journal compaction failed; will retry on the next request");
                }
                for done in compactions {
                    let _ = done.send(());
                }
            }
        }
    }

    fn commit(&mut self, batch: &mut [Append], buf: &mut Vec<u8>) -> Result<(), StoreError> {
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        let bytes: usize = batch.iter().map(|a| a.frames.len()).sum();
        let has_frames = self.size > segment::HEADER_LEN as u64;
        if has_frames && self.size + bytes as u64 > self.shared.options.segment_bytes {
            self.roll()?;
        }
        buf.clear();
        for append in batch.iter() {
            buf.extend_from_slice(&append.frames);
        }
        self.file.write_all_at(buf, self.size)?;
        self.preallocate(self.size + bytes as u64);
        let syncing = std::time::Instant::now();
        self.shared.fsync.sync(&self.file)?;
        if let Some(observer) = self.shared.observer.get() {
            observer.synced(batch.iter().map(|a| a.index.len()).sum(), syncing.elapsed());
        }

        let mut state = self.shared.state.lock();
        let mut base = self.size;
        for append in batch.iter() {
            for &(run_id, seq, at, len, tombstone) in &append.index {
                let loc = Loc { segment: self.segment, offset: base + at as u64, len: len as u32, seq, tombstone };
                state.runs.entry(run_id).or_default().locs.push(loc);
            }
            base += append.frames.len() as u64;
        }
        if let Some(segment) = state.segments.get_mut(&self.segment) {
            segment.bytes += bytes as u64;
            segment.live += bytes as u64;
        }
        drop(state);
        self.size += bytes as u64;
        Ok(())
    }

    /// Keeps zeros written ahead of `end`, up to `preallocate_bytes` at a time and
    /// never past the segment's size, in the batch's own sync. A later `fdatasync`
    /// then rewrites blocks the file already has and changes no metadata: on ext4,
    /// 70 against 100 µs for one small record (README, Benchmarks). A crash leaves
    /// the zeros after the last record, which recovery drops. Best effort: the
    /// records are written already, and a full disk is their error, not this one's.
    /// Zeros written, not `set_len` or `fallocate`: a hole or an unwritten extent still
    /// changes metadata when it is first written.
    fn preallocate(&mut self, end: u64) {
        static ZEROS: [u8; 64 << 10] = [0; 64 << 10];
        let options = &self.shared.options;
        if end <= self.allocated || options.preallocate_bytes == 0 {
            self.allocated = self.allocated.max(end);
            return;
        }
        let target = (end + options.preallocate_bytes).min(options.segment_bytes.max(end));
        // Counted before the writes: whatever part of them lands, a roll cuts it.
        self.allocated = target;
        let mut at = end;
        while at < target {
            let n = (target - at).min(ZEROS.len() as u64) as usize;
            if let Err(error) = self.file.write_all_at(&ZEROS[..n], at) {
                tracing::debug!(%error, "could not write zeros ahead of the journal's records");
                return;
            }
            at += n as u64;
        }
    }

    /// Starts the next segment, then seals the active one. In that order: a
    /// segment that ends with its seal always has a successor, so a newest segment
    /// with a seal means later ones were lost, and a sealed-to-be segment without
    /// one is either the roll a crash interrupted (its successor is still empty)
    /// or damage.
    ///
    /// The zeros written ahead go first, durably: a segment that is not the newest
    /// must end with its records (and seal), or it reads as damaged.
    fn roll(&mut self) -> Result<(), StoreError> {
        let next = self.segment + 1;
        let fsync = self.shared.fsync.as_ref();
        if self.allocated > self.size {
            self.file.set_len(self.size)?;
            fsync.sync(&self.file)?;
            self.allocated = self.size;
        }
        let file = segment::create(&self.shared.dir, next, fsync)?;
        let mut seal = Vec::new();
        frame::seal(self.size, &mut seal);
        self.file.write_all_at(&seal, self.size)?;
        fsync.sync(&self.file)?;
        let header = segment::HEADER_LEN as u64;
        let mut state = self.shared.state.lock();
        if let Some(sealed) = state.segments.get_mut(&self.segment) {
            sealed.bytes += seal.len() as u64;
            sealed.dead += seal.len() as u64;
        }
        state.segments.insert(next, Segment { bytes: header, dead: header, ..Segment::default() });
        drop(state);
        self.file = file;
        self.segment = next;
        self.size = header;
        self.allocated = header;
        tracing::debug!(segment = next, "journal segment rolled");
        Ok(())
    }

    /// Reclaims sealed segments: deletes (retires) those that hold nothing wanted,
    /// and rewrites those at least half forgotten, keeping their live frames and
    /// the tombstones still needed. Each rewrite or retirement may free tombstones
    /// elsewhere, so it goes round again (a few times at most) while it frees some.
    fn compact(&mut self) -> Result<(), StoreError> {
        for _ in 0..4 {
            let (retire, rewrite): (Vec<u32>, Vec<u32>) = {
                let state = self.shared.state.lock();
                let sealed = state.segments.iter().filter(|&(&number, s)| number != self.segment && !s.pinned);
                let retire = sealed.clone().filter(|(_, s)| s.live == 0).map(|(&n, _)| n).collect();
                let rewrite = sealed
                    .filter(|(_, s)| s.live > 0 && s.dead > 0 && s.dead * 2 >= s.bytes)
                    .map(|(&n, _)| n)
                    .collect();
                (retire, rewrite)
            };
            if retire.is_empty() && rewrite.is_empty() {
                break;
            }
            if !retire.is_empty() {
                self.retire(&retire)?;
            }
            for number in rewrite {
                self.rewrite(number)?;
            }
        }
        Ok(())
    }

    /// Deletes segments that hold nothing wanted. Their numbers go into the
    /// retirement manifest, synced with its directory, before any is unlinked: a
    /// number that goes missing without being in it is damage, always.
    fn retire(&mut self, numbers: &[u32]) -> Result<(), StoreError> {
        let dir = &self.shared.dir;
        let fsync = self.shared.fsync.as_ref();
        let mut manifest = self.shared.state.lock().retired.clone();
        for &number in numbers {
            manifest.insert(number);
        }
        retired::store(dir, &manifest, fsync)?;
        failpoint::hit(failpoint::RETIRE_AFTER_MARK);
        // Retired now: the next open finishes an unlink cut short and never reads them.
        let freed = {
            let mut state = self.shared.state.lock();
            state.retired = manifest;
            state.retired_since_open += numbers.len() as u64;
            let mut blocks = Vec::new();
            for number in numbers {
                state.files.close(*number);
                if let Some(segment) = state.segments.remove(number) {
                    blocks.extend(segment.blocks);
                }
            }
            let freed = blocks.len();
            state.unblock(blocks);
            freed
        };
        for &number in numbers {
            segment::unlink(dir, number)?;
        }
        failpoint::hit(failpoint::RETIRE_AFTER_UNLINK);
        segment::sync_dir(dir, fsync)?;
        tracing::debug!(segments = ?numbers, tombstones_freed = freed, "journal segments retired");
        Ok(())
    }

    fn rewrite(&mut self, number: u32) -> Result<(), StoreError> {
        let dir = &self.shared.dir;
        let data = segment::read(dir, number)?;
        let max_body = self.shared.options.max_record_bytes + frame::BODY_PREFIX;
        let starts_with_frame = matches!(frame::decode(&data, max_body), Decoded::Frame { .. });
        let mut offset = match segment::read_header(&data, number, starts_with_frame) {
            segment::Header::Current => segment::HEADER_LEN,
            segment::Header::Headerless => 0,
            // Recovery reported it; compaction leaves what it cannot read alone.
            _ => {
                if let Some(segment) = self.shared.state.lock().segments.get_mut(&number) {
                    segment.pinned = true;
                }
                return Ok(());
            }
        };
        // Frames still wanted: those the index points at, here, at this offset; and
        // tombstones still needed. The tombstones that wait for this segment to lose
        // its records of their run are taken now: the runs they name are forgotten,
        // so none of their records is kept.
        let mut kept = segment::header(number).to_vec();
        let mut moves = Vec::new();
        let blocks = {
            let mut state = self.shared.state.lock();
            let Some(here) = state.segments.get(&number) else { return Ok(()) };
            while offset < data.len() {
                let len = match frame::decode(&data[offset..], max_body) {
                    Decoded::Frame { record, len } => {
                        let indexed = state
                            .runs
                            .get(&record.run_id)
                            .and_then(|run| find(&run.locs, record.seq))
                            .is_some_and(|loc| loc.segment == number && loc.offset == offset as u64);
                        let needed =
                            record.kind == frame::Kind::Tombstone && here.tombstones.contains_key(&record.run_id);
                        if indexed || needed {
                            moves.push((record.run_id, record.seq, kept.len() as u64, len as u64, indexed));
                            kept.extend_from_slice(&data[offset..offset + len]);
                        }
                        len
                    }
                    Decoded::Corrupt { len, .. } => len,
                    Decoded::Incomplete => break,
                };
                offset += len;
            }
            std::mem::take(&mut state.segments.get_mut(&number).unwrap().blocks)
        };
        let fsync = self.shared.fsync.as_ref();
        let frames = (kept.len() - segment::HEADER_LEN) as u64;
        frame::seal(kept.len() as u64, &mut kept);
        let replaced = segment::write_temporary(dir, number, &kept, fsync).and_then(|()| {
            // Renamed under the index's lock, with the offsets moved and the cached
            // descriptor closed at once, so a reader sees old offsets in the old file
            // or new offsets in the new one, never a mix.
            let mut state = self.shared.state.lock();
            segment::install(dir, number)?;
            let mut live = 0;
            for &(run_id, seq, offset, len, indexed) in &moves {
                if !indexed {
                    continue;
                }
                if let Some(loc) = state.runs.get_mut(&run_id).and_then(|run| find_mut(&mut run.locs, seq)) {
                    loc.offset = offset;
                    live += len;
                }
            }
            state.files.close(number);
            let segment = state.segments.get_mut(&number).unwrap();
            live += segment.tombstones.values().map(|t| t.bytes).sum::<u64>();
            let live = live.min(frames);
            segment.bytes = kept.len() as u64;
            segment.live = live;
            segment.dead = frames - live;
            drop(state);
            segment::sync_dir(dir, fsync)
        });
        let mut state = self.shared.state.lock();
        match replaced {
            Ok(()) => state.unblock(blocks),
            Err(error) => {
                if let Some(segment) = state.segments.get_mut(&number) {
                    segment.blocks.extend(blocks);
                }
                return Err(error.into());
            }
        }
        tracing::debug!(segment = number, before = data.len(), after = kept.len(), "journal segment compacted");
        Ok(())
    }
}

/// A run's locations are in `seq` order.
fn find(locs: &[Loc], seq: u32) -> Option<&Loc> {
    locs.binary_search_by_key(&seq, |l| l.seq).ok().map(|i| &locs[i])
}

fn find_mut(locs: &mut [Loc], seq: u32) -> Option<&mut Loc> {
    locs.binary_search_by_key(&seq, |l| l.seq).ok().map(move |i| &mut locs[i])
}
