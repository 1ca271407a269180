//! The `Journal` handle: open (with recovery), append (durably), read one run.

use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use tokio::sync::oneshot;
use ulid::Ulid;

use crate::frame::{self, Decoded, Kind, Record, RecordRef};
use crate::fsync::Fsync;
use crate::retired::{self, Retired};
use crate::writer::{Append, Op, Queue, Then, Writer};
use crate::{recover, segment};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("journal I/O failed: {0}")]
    Io(String),
    #[error("the journal refuses writes after an earlier write or sync failed")]
    Poisoned,
    #[error("record {seq} of run {run_id} is corrupt on disk")]
    Corrupt { run_id: Ulid, seq: usize },
    #[error("record of {size} bytes exceeds the journal's limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the journal writer has stopped")]
    Stopped,
    /// A shared store: a new run whose idempotency key already names another run.
    #[error("run {run_id} was not started: its idempotency key already names another run")]
    Duplicate { run_id: Ulid },
    /// A shared store: another node took the run over; this node's write was refused.
    #[error("run {run_id} is owned by another node now; this node's write was refused")]
    Fenced { run_id: Ulid },
    /// A shared store could not be reached or refused the statement.
    #[error("store: {0}")]
    Database(DbError),
    /// A client string the store cannot keep (PostgreSQL's `text` holds no NUL),
    /// found before any SQL ran: the caller's params are at fault, not the store.
    #[error("params.{field}: {problem}")]
    Unstorable { field: &'static str, problem: String },
    /// Segment-level damage found at open; the journal opens anyway only with
    /// `JournalOptions::accept_damage` (`--accept-journal-damage`).
    #[error("the journal is damaged: {}; the damaged segments were left as they are. Restore them, or start with --accept-journal-damage to open it with the affected runs flagged", .0.join("; "))]
    Damaged(Vec<String>),
}

/// A shared store's failure, with the SQLSTATE the database gave (`None` when it gave
/// none: unreachable, a pool timeout), so a caller tells kinds of failure apart by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub message: String,
    pub sqlstate: Option<String>,
}

impl DbError {
    pub fn new(message: impl Into<String>, sqlstate: Option<String>) -> DbError {
        DbError { message: message.into(), sqlstate }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sqlstate {
            Some(code) => write!(f, "{} (SQLSTATE {code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// A segment is sealed once it would grow past this.
    pub segment_bytes: u64,
    /// Largest record payload accepted.
    pub max_record_bytes: usize,
    /// Open a journal with missing or shortened segments anyway, flagging the runs
    /// whose records may have been there.
    pub accept_damage: bool,
    /// Sealed segments kept open for reads at most (least recently read closed
    /// first); the writer's own segment takes one more descriptor.
    pub max_open_segments: usize,
    /// Zeros written ahead of the records, at most this many bytes at a time (0: none),
    /// so that a sync need not change the file's length.
    pub preallocate_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 64 << 20,
            max_record_bytes: 16 << 20,
            accept_damage: false,
            max_open_segments: 16,
            preallocate_bytes: 256 << 10,
        }
    }
}

/// What the journal holds now, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Segment files on disk.
    pub segments: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Bytes of records still wanted (live runs' records and needed tombstones).
    pub live_bytes: u64,
    /// Descriptors the journal holds on segments: the writer's, and readers cached.
    pub open_files: usize,
    /// Segments deleted (retired) since this process opened the journal.
    pub retired: u64,
    /// Tombstones kept because an older segment may still hold a record of their run.
    pub tombstones: usize,
}

/// What the journal held at open, one entry per run.
#[derive(Debug, Default)]
pub struct Recovered {
    pub runs: Vec<RecoveredRun>,
    pub truncated_bytes: u64,
    pub corrupt_frames: usize,
    pub unknown_kinds: usize,
    /// Segment-level damage, one sentence each (missing, shortened, unreadable segments).
    pub damage: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RecoveredRun {
    pub run_id: Ulid,
    pub started: Option<Vec<u8>>,
    pub ended: Option<Vec<u8>>,
    /// Records of every kind: the next record's `seq`.
    pub records: u32,
    pub turns: u32,
    /// Its records' payloads together, in bytes (`runs.max_run_bytes` counts them).
    pub bytes: u64,
    /// Some of its records failed their checksum or are missing.
    pub corrupted: bool,
    /// Its eviction was recorded: it is forgotten, not lost.
    pub tombstoned: bool,
}

impl RecoveredRun {
    pub fn new(run_id: Ulid) -> Self {
        RecoveredRun {
            run_id,
            started: None,
            ended: None,
            records: 0,
            turns: 0,
            bytes: 0,
            corrupted: false,
            tombstoned: false,
        }
    }

    pub(crate) fn note(&mut self, record: &RecordRef<'_>) {
        self.records = self.records.max(record.seq + 1);
        if matches!(record.kind, Kind::Started | Kind::Turn | Kind::Ended) {
            self.bytes += record.payload.len() as u64;
        }
        match record.kind {
            Kind::Started => self.started = Some(record.payload.to_vec()),
            Kind::Ended => self.ended = Some(record.payload.to_vec()),
            Kind::Turn => self.turns += 1,
            Kind::Tombstone => self.tombstoned = true,
            Kind::Seal | Kind::Unknown(_) => {}
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Loc {
    pub(crate) segment: u32,
    pub(crate) offset: u64,
    pub(crate) len: u32,
    pub(crate) seq: u32,
    /// The record is a tombstone (its run's eviction).
    pub(crate) tombstone: bool,
}

#[derive(Debug, Default)]
pub(crate) struct RunLocs {
    pub(crate) locs: Vec<Loc>,
    pub(crate) corrupted: bool,
}

impl RunLocs {
    /// The locations of records `range` (by position), cut at the run's end.
    pub(crate) fn within(&self, range: Range<usize>) -> &[Loc] {
        let end = range.end.min(self.locs.len());
        self.locs.get(range.start.min(end)..end).unwrap_or_default()
    }
}

/// Keyed by run id. Ids are read from the journal, which only the daemon writes
/// (it mints them), so a fast hash seeded per process is enough; SipHash was a
/// tenth of a boot on a million records.
pub(crate) type ByRun<V> = HashMap<Ulid, V, foldhash::fast::RandomState>;

pub(crate) struct State {
    pub(crate) runs: ByRun<RunLocs>,
    /// The segments on disk (retired ones are not).
    pub(crate) segments: BTreeMap<u32, Segment>,
    /// Read descriptors on segments, a bounded cache.
    pub(crate) files: Files,
    /// What the manifest on disk says was retired.
    pub(crate) retired: Retired,
    /// Segments retired since open.
    pub(crate) retired_since_open: u64,
}

/// A segment on disk and how much of it is still wanted.
#[derive(Default)]
pub(crate) struct Segment {
    pub(crate) bytes: u64,
    /// Bytes of forgotten runs (and of damaged frames): what compaction reclaims.
    pub(crate) dead: u64,
    /// Bytes of frames still wanted: records the index points at, and tombstones
    /// still needed. A sealed segment with none is retired (deleted).
    pub(crate) live: u64,
    /// Damage was found here at open: never rewritten or retired, so every open
    /// reports it again.
    pub(crate) pinned: bool,
    /// Tombstones here that are still needed: their run may still have records in
    /// other segments (how many, and the tombstones' bytes).
    pub(crate) tombstones: HashMap<Ulid, Needed>,
    /// Tombstones elsewhere waiting for this segment to lose its records of their
    /// run (by a rewrite or its retirement): (their segment, run).
    pub(crate) blocks: Vec<(u32, Ulid)>,
}

#[derive(Default, Clone, Copy)]
pub(crate) struct Needed {
    pub(crate) bytes: u64,
    pub(crate) waiting: u32,
}

impl State {
    /// Accounts for a forgotten run's records: its records are dead at once; each
    /// of its tombstones stays wanted while another segment still holds a record of
    /// the run (that would come back at open without it).
    pub(crate) fn bury(&mut self, run_id: Ulid, locs: &[Loc]) {
        let holders: BTreeSet<u32> = locs.iter().filter(|l| !l.tombstone).map(|l| l.segment).collect();
        for loc in locs.iter().filter(|l| !l.tombstone) {
            if let Some(segment) = self.segments.get_mut(&loc.segment) {
                segment.kill(loc.len as u64);
            }
        }
        for tomb in locs.iter().filter(|l| l.tombstone) {
            let waiting: Vec<u32> =
                holders.iter().copied().filter(|&h| h != tomb.segment && self.segments.contains_key(&h)).collect();
            let Some(segment) = self.segments.get_mut(&tomb.segment) else { continue };
            if waiting.is_empty() {
                segment.kill(tomb.len as u64);
                continue;
            }
            let needed = segment.tombstones.entry(run_id).or_default();
            needed.bytes += tomb.len as u64;
            needed.waiting += waiting.len() as u32;
            for holder in waiting {
                self.segments.get_mut(&holder).unwrap().blocks.push((tomb.segment, run_id));
            }
        }
    }

    /// Segments lost their records of these runs (durably): the tombstones that
    /// waited on them are one wait closer to dead.
    pub(crate) fn unblock(&mut self, blocks: Vec<(u32, Ulid)>) {
        for (number, run_id) in blocks {
            let Some(segment) = self.segments.get_mut(&number) else { continue };
            let Some(needed) = segment.tombstones.get_mut(&run_id) else { continue };
            needed.waiting = needed.waiting.saturating_sub(1);
            if needed.waiting == 0 {
                let bytes = needed.bytes;
                segment.tombstones.remove(&run_id);
                segment.kill(bytes);
            }
        }
    }
}

impl Segment {
    fn kill(&mut self, bytes: u64) {
        self.live = self.live.saturating_sub(bytes);
        self.dead += bytes;
    }
}

/// Read descriptors on segments, at most `cap`, the least recently used closed first.
pub(crate) struct Files {
    open: Vec<(u32, Arc<File>, u64)>,
    tick: u64,
    cap: usize,
}

impl Files {
    pub(crate) fn new(cap: usize) -> Files {
        Files { open: Vec::new(), tick: 0, cap: cap.max(1) }
    }

    /// A descriptor on segment `number`, opened now if not cached. Called under
    /// the state's lock, so the file it opens matches the index's offsets.
    pub(crate) fn get(&mut self, dir: &Path, number: u32) -> io::Result<Arc<File>> {
        self.tick += 1;
        if let Some(entry) = self.open.iter_mut().find(|e| e.0 == number) {
            entry.2 = self.tick;
            return Ok(entry.1.clone());
        }
        let file = Arc::new(File::open(segment::path(dir, number))?);
        if self.open.len() >= self.cap
            && let Some(oldest) = self.open.iter().enumerate().min_by_key(|(_, e)| e.2).map(|(i, _)| i)
        {
            self.open.swap_remove(oldest);
        }
        self.open.push((number, file.clone(), self.tick));
        Ok(file)
    }

    /// Closes the cached descriptor on a segment that was replaced or retired.
    pub(crate) fn close(&mut self, number: u32) {
        self.open.retain(|e| e.0 != number);
    }

    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: JournalOptions,
    pub(crate) fsync: Arc<dyn Fsync>,
    pub(crate) poisoned: AtomicBool,
    pub(crate) state: Mutex<State>,
    /// Segment damage accepted at open (`accept_damage`), for health reports.
    pub(crate) damage: Vec<String>,
    pub(crate) observer: std::sync::OnceLock<Arc<dyn JournalObserver>>,
}

/// Told of every group commit: how many records it made durable, and how long its
/// `fdatasync` took (the metrics listen).
pub trait JournalObserver: Send + Sync + 'static {
    fn synced(&self, records: usize, fsync: std::time::Duration);
}

/// A cheap handle on the journal; clones share the writer.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
    queue: Arc<Queue>,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` and recovers what it holds.
    pub fn open(
        dir: &Path,
        options: JournalOptions,
        fsync: Arc<dyn Fsync>,
    ) -> Result<(Journal, Recovered), StoreError> {
        segment::ensure_dir(dir, fsync.as_ref())?;
        segment::remove_leftovers(dir)?;
        retired::remove_leftover(dir)?;
        let (retired, manifest_damage) = match retired::load(dir)? {
            Ok(retired) => (retired, None),
            Err(why) => (Retired::default(), Some(why)),
        };
        let mut numbers = segment::list(dir)?;
        // A retirement a crash cut short between the manifest and the unlink: finish it.
        let leftovers: Vec<u32> = numbers.iter().copied().filter(|&n| retired.contains(n)).collect();
        if !leftovers.is_empty() {
            for &number in &leftovers {
                segment::unlink(dir, number)?;
            }
            segment::sync_dir(dir, fsync.as_ref())?;
            numbers.retain(|n| !retired.contains(*n));
            tracing::info!(segments = ?leftovers, "removed segments whose retirement a crash interrupted");
        }
        let max_body = options.max_record_bytes + frame::BODY_PREFIX;
        let mut scan = recover::scan(dir, &numbers, &retired, max_body, Some(fsync.as_ref()), &mut |_, _| {})?;
        if let Some(why) = manifest_damage {
            tracing::error!(damage = %why, "journal damage");
            scan.recovered.damage.insert(0, why);
        }
        if !scan.recovered.damage.is_empty() && !options.accept_damage {
            return Err(StoreError::Damaged(scan.recovered.damage));
        }
        if let Some((number, len)) = scan.unsealed {
            let mut seal = Vec::new();
            frame::seal(len, &mut seal);
            let file = segment::open_write(dir, number)?;
            std::os::unix::fs::FileExt::write_all_at(&file, &seal, len)?;
            fsync.sync(&file)?;
            tracing::info!(segment = number, "sealed a segment whose roll a crash interrupted");
        }
        let last = numbers.last().copied();
        if numbers.is_empty() || scan.last_sealed || last.is_some_and(|n| n <= retired.max()) {
            // Nothing may follow a seal: appends go to a new segment, numbered
            // after every segment there is or was.
            let next = last.unwrap_or(0).max(retired.max()) + 1;
            segment::create(dir, next, fsync.as_ref())?;
            numbers.push(next);
        }
        let active = *numbers.last().unwrap();
        let file = segment::open_write(dir, active)?;
        // Recovery cut the zeros a crash left after the last record: the file ends with it.
        let size = file.metadata()?.len();
        let mut segments = BTreeMap::new();
        for &number in &numbers {
            let bytes = std::fs::metadata(segment::path(dir, number))?.len();
            // Every frame counts as live at first; then the forgotten runs' are buried.
            let live = scan.live.get(&number).copied().unwrap_or(0).min(bytes);
            // Where damage was found: kept as it is.
            let pinned = scan.pinned.contains(&number);
            segments.insert(number, Segment { bytes, dead: bytes - live, live, pinned, ..Segment::default() });
        }
        let mut state = State {
            runs: scan.runs,
            segments,
            files: Files::new(options.max_open_segments),
            retired,
            retired_since_open: 0,
        };
        for (run_id, locs) in &scan.forgotten {
            state.bury(*run_id, locs);
        }
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            options,
            fsync,
            poisoned: AtomicBool::new(false),
            state: Mutex::new(state),
            damage: scan.recovered.damage.clone(),
            observer: std::sync::OnceLock::new(),
        });
        let (tx, rx) = mpsc::channel();
        let writer = Writer { shared: shared.clone(), file, segment: active, size, allocated: size };
        // Reclaim at once what the last run of the daemon left reclaimable.
        let (done, _) = oneshot::channel();
        let _ = tx.send(Op::Compact(done));
        std::thread::Builder::new().name("journal-writer".into()).spawn(move || writer.run(rx))?;
        Ok((Journal { shared, queue: Arc::new(Mutex::new(tx)) }, scan.recovered))
    }

    /// Appends records; returns once they are durable. Records of one run must
    /// carry consecutive `seq`s, which the caller assigns.
    pub async fn append(&self, records: &[Record]) -> Result<(), StoreError> {
        self.append_then(records, None).await
    }

    /// `append`, and `then` run on the writer thread as soon as the records are
    /// durable (not if they fail), before this resolves: what must follow a turn's
    /// sync at once (its reply) costs no hop back to the appender's task.
    pub async fn append_then(&self, records: &[Record], then: Option<Then>) -> Result<(), StoreError> {
        if self.shared.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        let limit = self.shared.options.max_record_bytes;
        if let Some(record) = records.iter().find(|record| record.payload.len() > limit) {
            return Err(StoreError::TooLarge { size: record.payload.len(), limit });
        }
        // Sized once (growing it reallocated a turn's frame three times), and only once
        // every record is known to be within the limit.
        let mut frames = Vec::with_capacity(records.iter().map(frame::encoded_len).sum());
        let mut index = Vec::with_capacity(records.len());
        for record in records {
            let at = frames.len();
            frame::encode(record, &mut frames);
            index.push((record.run_id, record.seq, at, frames.len() - at, record.kind == Kind::Tombstone));
        }
        let (done, wait) = oneshot::channel();
        self.queue.lock().send(Op::Append(Append { frames, index, done, then })).map_err(|_| StoreError::Stopped)?;
        wait.await.map_err(|_| StoreError::Stopped)?
    }

    /// Records `range` (by position) of one run; reads only that run's frames.
    pub fn read(&self, run_id: Ulid, range: Range<usize>) -> Result<Vec<Record>, StoreError> {
        let mut records = Vec::with_capacity(range.len().min(4096));
        self.read_each(run_id, range, &mut |record| records.push(record.to_record()))?;
        Ok(records)
    }

    /// The frames' bytes of `range` (by position) of one run, read from the index.
    pub fn stored_bytes(&self, run_id: Ulid, range: Range<usize>) -> usize {
        let state = self.shared.state.lock();
        let Some(run) = state.runs.get(&run_id) else { return 0 };
        run.within(range).iter().map(|loc| loc.len as usize).sum()
    }

    /// Records `range` (by position) of one run, each lent to `each` as it is read
    /// (checked, not copied: a snapshot is written straight into its reply's text).
    /// Frames that lie close together in one segment are read with one `pread`
    /// (a run's turns usually follow each other): a 50-record page was 50 reads.
    pub fn read_each(
        &self,
        run_id: Ulid,
        range: Range<usize>,
        each: &mut dyn FnMut(RecordRef<'_>),
    ) -> Result<(), StoreError> {
        let (locs, files) = {
            let mut state = self.shared.state.lock();
            let Some(run) = state.runs.get(&run_id) else { return Ok(()) };
            let locs: Vec<Loc> = run.within(range.clone()).to_vec();
            let mut files: Vec<Arc<File>> = Vec::with_capacity(locs.len());
            for loc in &locs {
                files.push(state.files.get(&self.shared.dir, loc.segment)?);
            }
            (locs, files)
        };
        let max_body = self.shared.options.max_record_bytes + frame::BODY_PREFIX;
        let mut buf = Vec::new();
        let mut first = 0;
        while first < locs.len() {
            let last = span_end(&locs, first);
            let start = locs[first].offset;
            let len = (locs[last - 1].offset + locs[last - 1].len as u64 - start) as usize;
            buf.clear();
            buf.resize(len, 0);
            files[first].read_exact_at(&mut buf, start)?;
            for (i, loc) in locs.iter().enumerate().take(last).skip(first) {
                let at = (loc.offset - start) as usize;
                match frame::decode(&buf[at..at + loc.len as usize], max_body) {
                    Decoded::Frame { record, .. } if record.run_id == run_id => each(record),
                    _ => return Err(StoreError::Corrupt { run_id, seq: range.start + i }),
                }
            }
            first = last;
        }
        Ok(())
    }

    /// How many records of `run_id` are readable.
    pub fn len(&self, run_id: Ulid) -> usize {
        self.shared.state.lock().runs.get(&run_id).map_or(0, |r| r.locs.len())
    }

    pub fn is_corrupted(&self, run_id: Ulid) -> bool {
        self.shared.state.lock().runs.get(&run_id).is_some_and(|r| r.corrupted)
    }

    /// Drops runs from the journal: they read as unknown at once, and their bytes
    /// are reclaimed when compaction rewrites or retires (deletes) the sealed
    /// segments that hold them. A run whose tombstone was appended first stays
    /// forgotten across a restart (its tombstone is kept until no other segment
    /// holds a record of it); one without may come back in part until then, so
    /// callers must choose the same runs again (retention is a pure function of the
    /// runs and the time). Resolves once the compaction pass that follows has finished.
    pub async fn forget(&self, run_ids: &[Ulid]) {
        {
            let mut state = self.shared.state.lock();
            for id in run_ids {
                let Some(run) = state.runs.remove(id) else { continue };
                state.bury(*id, &run.locs);
            }
        }
        let (done, wait) = oneshot::channel();
        if self.queue.lock().send(Op::Compact(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Bytes on disk across all segments.
    pub fn disk_bytes(&self) -> u64 {
        self.shared.state.lock().segments.values().map(|s| s.bytes).sum()
    }

    /// Files, bytes and descriptors as of now.
    pub fn stats(&self) -> JournalStats {
        let state = self.shared.state.lock();
        JournalStats {
            segments: state.segments.len(),
            bytes: state.segments.values().map(|s| s.bytes).sum(),
            live_bytes: state.segments.values().map(|s| s.live).sum(),
            // The writer's append descriptor on the newest segment, and the readers.
            open_files: 1 + state.files.len(),
            retired: state.retired_since_open,
            tombstones: state.segments.values().map(|s| s.tombstones.len()).sum(),
        }
    }

    pub fn is_poisoned(&self) -> bool {
        self.shared.poisoned.load(Ordering::Acquire)
    }

    /// Reports every group commit to `observer` (set once).
    pub fn observe(&self, observer: Arc<dyn JournalObserver>) {
        let _ = self.shared.observer.set(observer);
    }

    /// The segment damage this journal was opened with (`accept_damage`).
    pub fn damage(&self) -> &[String] {
        &self.shared.damage
    }
}

/// Where the span of frames read with one `pread` from `locs[first]` ends (exclusive):
/// frames of one segment, in offset order, each at most `SPAN_GAP` bytes after the
/// previous one, `SPAN_MAX` bytes in all (so a read's buffer stays bounded).
fn span_end(locs: &[Loc], first: usize) -> usize {
    const SPAN_GAP: u64 = 4 << 10;
    const SPAN_MAX: u64 = 1 << 20;
    let start = locs[first].offset;
    let mut last = first + 1;
    while let Some(next) = locs.get(last) {
        let prev = &locs[last - 1];
        let prev_end = prev.offset + prev.len as u64;
        // Checked in this order: a later record may lie earlier in the file (or in
        // another segment), after compaction moved it.
        if next.segment != prev.segment
            || next.offset < prev_end
            || next.offset - prev_end > SPAN_GAP
            || next.offset + next.len as u64 - start > SPAN_MAX
        {
            break;
        }
        last += 1;
    }
    last
}

#[cfg(test)]
mod tests {
    use super::{Loc, span_end};

    fn loc(segment: u32, offset: u64, len: u32) -> Loc {
        Loc { segment, offset, len, seq: 0, tombstone: false }
    }

    #[test]
    fn a_span_stops_at_another_segment_a_gap_an_earlier_offset_or_its_size() {
        let locs = [loc(1, 16, 100), loc(1, 116, 100), loc(1, 300, 100), loc(2, 16, 100)];
        assert_eq!(span_end(&locs, 0), 3, "contiguous and a small gap share a read");
        assert_eq!(span_end(&locs, 3), 4);
        // Moved by compaction: a later record earlier in the file.
        assert_eq!(span_end(&[loc(1, 5_000, 100), loc(1, 16, 100)], 0), 1);
        assert_eq!(span_end(&[loc(1, 16, 100), loc(1, 16 + 100 + (8 << 10), 100)], 0), 1);
        assert_eq!(span_end(&[loc(1, 16, 1 << 20), loc(1, 16 + (1 << 20), 100)], 0), 1);
    }
}
