//! Reading the segments back at open: rebuild the index, truncate a torn tail,
//! and find damage, never absorbing it silently. Damage is of two kinds:
//! - a record that fails its checksum: its run is flagged, the rest reads on;
//! - a segment missing, shortened, or with a header this build cannot read: listed
//!   in `Recovered::damage` (the journal then refuses to open unless told to
//!   accept it), and every run whose records may have been there is flagged.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use ulid::Ulid;

use crate::frame::RecordRef;
use crate::frame::{self, Decoded, Kind};
use crate::fsync::Fsync;
use crate::journal::{ByRun, Loc, Recovered, RecoveredRun, RunLocs};
use crate::retired::Retired;
use crate::segment::{self, Header};

pub(crate) struct Scan {
    pub(crate) runs: ByRun<RunLocs>,
    /// Bytes of frames naming a run, per segment (the forgotten runs' included).
    pub(crate) live: HashMap<u32, u64>,
    pub(crate) recovered: Recovered,
    /// A segment whose roll a crash interrupted after its successor was created:
    /// it is sealed (at this length) before anything is appended.
    pub(crate) unsealed: Option<(u32, u64)>,
    /// The newest segment ends with a seal (only possible when later ones are lost).
    pub(crate) last_sealed: bool,
    /// Runs whose eviction is recorded, with where their records (tombstones
    /// included) still are: what keeps each tombstone needed.
    pub(crate) forgotten: Vec<(Ulid, Vec<Loc>)>,
    /// Segments where damage was found (a corrupt record, or records after them
    /// may be missing): never rewritten or retired, so the damage is found at every open.
    pub(crate) pinned: BTreeSet<u32>,
}

/// Scans the segments (`numbers`: those present and not retired). A number neither
/// present nor in `retired` is damage: retirement writes the manifest before it
/// unlinks, so only a loss makes a number go missing. With `repair`, a torn tail is
/// truncated and a torn header completed (crash recovery); without, nothing is
/// changed (an offline reader, maybe beside a running daemon whose write is in flight).
pub(crate) fn scan(
    dir: &Path,
    numbers: &[u32],
    retired: &Retired,
    max_body: usize,
    repair: Option<&dyn Fsync>,
    progress: &mut dyn FnMut(usize, usize),
) -> io::Result<Scan> {
    let mut found = Found::default();
    let mut live: HashMap<u32, u64> = HashMap::new();
    // One buffer for every segment: fresh memory for each would fault in again.
    let mut buf = Vec::new();
    let mut report = Recovered::default();
    // Segments after which records may be missing.
    let mut lossy: BTreeSet<u32> = BTreeSet::new();
    // Segments with a corrupt record.
    let mut pinned: BTreeSet<u32> = BTreeSet::new();
    let mut unsealed = None;
    let mut last_sealed = false;
    // Records that failed their checksum: where, the run id their (untrusted) body
    // names, and whether they hold a zeroed block (16 zero bytes, or zeros at the end).
    let mut suspects: Vec<(u32, usize, Ulid, bool)> = Vec::new();
    let damage = |report: &mut Recovered, what: String| {
        tracing::error!(damage = %what, "journal damage");
        report.damage.push(what);
    };
    for pair in numbers.windows(2) {
        for (first, last) in retired.gaps(pair[0] + 1, pair[1] - 1) {
            damage(&mut report, missing(first, last));
            lossy.insert(pair[0]);
        }
    }
    // The segment being written when the daemon stopped is never retired, so one
    // numbered above every retired one must be there.
    if !retired.is_empty() && numbers.last().is_none_or(|&last| last <= retired.max()) {
        damage(
            &mut report,
            format!(
                "segment {} is missing: segments up to {} were retired, and the newest segment, after them, is gone",
                retired.max() + 1,
                retired.max()
            ),
        );
        lossy.insert(numbers.last().copied().unwrap_or(0));
    }
    for (i, &number) in numbers.iter().enumerate() {
        progress(i, numbers.len());
        let is_last = i + 1 == numbers.len();
        let path = segment::path(dir, number);
        segment::read_into(dir, number, &mut buf)?;
        let starts_with_frame = matches!(frame::decode(&buf, max_body), Decoded::Frame { .. });
        let header = segment::read_header(&buf, number, starts_with_frame);
        if i == 0 && number != 1 && header == Header::Current {
            for (first, last) in retired.gaps(1, number - 1) {
                damage(&mut report, missing(first, last));
                lossy.insert(0);
            }
        }
        let start = match header {
            Header::Current => segment::HEADER_LEN,
            Header::Headerless => 0,
            Header::Torn if is_last => {
                if let Some(fsync) = repair {
                    segment::repair_header(dir, number, fsync)?;
                    tracing::warn!(segment = number, "completed a segment header cut short by a crash");
                }
                continue;
            }
            Header::Torn => {
                damage(&mut report, format!("segment {number} is cut short inside its header"));
                lossy.insert(number);
                continue;
            }
            Header::Damaged(why) => {
                damage(&mut report, format!("segment {number} is unreadable: {why}"));
                lossy.insert(number);
                continue;
            }
        };
        let mut offset = start;
        let mut seal = None;
        // Where bytes no run can be named for begin: records there may be lost.
        let mut unreadable: Vec<usize> = Vec::new();
        let mut live_here = 0u64;
        while offset < buf.len() {
            match frame::decode(&buf[offset..], max_body) {
                Decoded::Frame { record, len } if record.kind == Kind::Seal => {
                    seal = Some((frame::sealed_len(&record) == Some(offset as u64), offset + len));
                    offset += len;
                }
                Decoded::Frame { record, len } if record.run_id.is_nil() => {
                    // Only a seal carries the nil id; a run record with it is damage
                    // (a block overwritten with something that checks out), never a run `000…0`.
                    report.corrupt_frames += 1;
                    pinned.insert(number);
                    unreadable.push(offset);
                    offset += len;
                }
                Decoded::Frame { record, len } => {
                    let loc = Loc {
                        segment: number,
                        offset: offset as u64,
                        len: len as u32,
                        seq: record.seq,
                        tombstone: record.kind == Kind::Tombstone,
                    };
                    found.note(&record, loc);
                    live_here += len as u64;
                    if let Kind::Unknown(kind) = record.kind {
                        report.unknown_kinds += 1;
                        tracing::warn!(kind, run = %record.run_id, "journal record of an unknown kind (written by a newer tether?)");
                    }
                    offset += len;
                }
                Decoded::Incomplete => {
                    // What was written of the frame: zeros after it are no part of it.
                    let torn = written(&buf[offset..]) as u64;
                    if is_last {
                        if repair.is_some() {
                            truncate(&path, offset as u64)?;
                            tracing::warn!(segment = number, bytes = torn, "truncated a torn tail");
                        }
                        report.truncated_bytes += torn;
                    } else {
                        report.corrupt_frames += 1;
                        pinned.insert(number);
                        tracing::error!(segment = number, offset, "sealed segment ends in a partial frame");
                    }
                    break;
                }
                Decoded::Corrupt { len, run_id } => {
                    let rest = &buf[offset..];
                    let end = written(rest);
                    if is_last && end == 0 {
                        // The zeros the writer keeps ahead of its records (or blocks the
                        // filesystem allocated but never wrote): no record was there.
                        if repair.is_some() {
                            truncate(&path, offset as u64)?;
                            tracing::debug!(
                                segment = number,
                                bytes = rest.len(),
                                "cut the zeros after the last record"
                            );
                        }
                        break;
                    }
                    // A whole frame after it means damage, not a write cut short.
                    if is_last
                        && torn_into_zeros(rest, end, len, run_id.is_some())
                        && resync(rest, 1, max_body).is_none()
                    {
                        let torn = end as u64;
                        if repair.is_some() {
                            truncate(&path, offset as u64)?;
                            tracing::warn!(segment = number, bytes = torn, "truncated a torn tail");
                        }
                        report.truncated_bytes += torn;
                        break;
                    }
                    // A zeroed block reads as run `000…0`: whose records it held is unknown.
                    let run_id = run_id.filter(|id| !id.is_nil());
                    report.corrupt_frames += 1;
                    pinned.insert(number);
                    tracing::error!(segment = number, offset, run = ?run_id, "corrupt journal record");
                    match run_id {
                        // Flagged once every segment is read, if a good record names that run.
                        Some(run_id) => {
                            let frame = &buf[offset..(offset + len).min(buf.len())];
                            // A payload is JSON, which never ends in NULs.
                            let zeroed = frame.ends_with(&[0; 4]) || frame.windows(16).any(|w| w == [0; 16]);
                            suspects.push((number, offset, run_id, zeroed));
                        }
                        None => unreadable.push(offset),
                    }
                    // Skip the damaged frame; if its header is unreadable, find the next good one.
                    offset = match run_id {
                        Some(_) => offset + len,
                        None => resync(&buf, offset + 1, max_body).unwrap_or(buf.len()),
                    };
                }
            }
        }
        live.insert(number, live_here);
        if let Some(first) = unreadable.first() {
            // No run can be flagged for them, so they are reported, never absorbed.
            let what = format!(
                "segment {number} has {} unreadable stretch(es) from offset {first} (zeroed or overwritten): the runs whose records were there cannot be named",
                unreadable.len()
            );
            damage(&mut report, what);
            lossy.insert(number);
        }
        let whole = seal == Some((true, buf.len()));
        if is_last {
            last_sealed = whole;
            if whole {
                damage(&mut report, format!("segment {number} is sealed, but the segments after it are missing"));
                lossy.insert(number);
            }
        } else if header == Header::Current && !whole {
            let next = numbers[i + 1];
            let next_is_fresh = i + 2 == numbers.len() && next == number + 1 && fresh(dir, next)?;
            if seal.is_none() && next_is_fresh {
                // Rolled up to creating its successor, then stopped: finish the roll.
                unsealed = Some((number, offset as u64));
            } else {
                damage(
                    &mut report,
                    format!("segment {number} is shortened or overwritten: it does not end with its seal"),
                );
                lossy.insert(number);
            }
        }
    }
    // A checksum failure may be in the run id itself (a block zeroed from inside a
    // frame leaves part of it zero). A run some good record names is flagged; so is
    // one whose frame holds no zeroed block and whose id was minted while this
    // journal's runs were (its ULID time among theirs, give or take an hour), so a run
    // whose every record took a flipped bit stays listed. Any other id is damage,
    // never a run of its own.
    const HOUR_MS: u64 = 3_600_000;
    let Found { mut slots, runs: mut found, .. } = found;
    let times = found.iter().map(|(_, run)| run.run_id.timestamp_ms());
    let span = times.clone().min().zip(times.max()).map(|(first, last)| first.saturating_sub(HOUR_MS)..=last + HOUR_MS);
    // Where corrupt records naming a run are: if the run turns out evicted, they
    // keep its tombstone (a tombstone goes only once no segment names its run).
    let mut corrupt_in: Vec<(Ulid, u32)> = Vec::new();
    for (number, offset, run_id, zeroed) in suspects {
        corrupt_in.push((run_id, number));
        let plausible = !zeroed && span.as_ref().is_some_and(|span| span.contains(&run_id.timestamp_ms()));
        match slots.get(&run_id) {
            Some(&slot) => found[slot as usize].1.corrupted = true,
            None if plausible => {
                slots.insert(run_id, found.len() as u32);
                found.push((Vec::new(), RecoveredRun { corrupted: true, ..RecoveredRun::new(run_id) }));
            }
            None => {
                damage(
                    &mut report,
                    format!("segment {number} has a corrupt record at offset {offset} of no known run"),
                );
                lossy.insert(number);
            }
        }
    }
    let mut runs: ByRun<RunLocs> = ByRun::with_capacity_and_hasher(found.len(), Default::default());
    let mut runs_out = Vec::with_capacity(found.len());
    let mut forgotten = Vec::new();
    for (mut locs, mut run) in found {
        if !locs.is_sorted_by_key(|loc| loc.seq) {
            locs.sort_by_key(|loc| loc.seq);
        }
        if run.tombstoned {
            // Evicted on purpose: forgotten now, its bytes reclaimed by compaction.
            // A corrupt record of the run counts as one of its records (taking no bytes).
            let corrupt = corrupt_in.iter().filter(|(id, _)| *id == run.run_id);
            locs.extend(corrupt.map(|&(_, segment)| Loc {
                segment,
                offset: 0,
                len: 0,
                seq: u32::MAX,
                tombstone: false,
            }));
            forgotten.push((run.run_id, locs));
            runs_out.push(run);
            continue;
        }
        let whole = locs.iter().enumerate().all(|(i, loc)| loc.seq as usize == i);
        let last_segment = locs.last().map_or(0, |loc| loc.segment);
        // Without its `ended` record, a run whose last record precedes lost data may have lost its tail.
        let tail_lost = run.ended.is_none() && lossy.range(last_segment..).next().is_some();
        if !whole || tail_lost {
            run.corrupted = true;
            tracing::error!(run = %run.run_id, "run flagged: some of its records are missing from the journal");
        }
        runs.insert(run.run_id, RunLocs { locs, corrupted: run.corrupted });
        runs_out.push(run);
    }
    runs_out.sort_unstable_by_key(|r| r.run_id);
    report.runs = runs_out;
    pinned.extend(lossy);
    Ok(Scan { runs, live, recovered: report, unsealed, last_sealed, forgotten, pinned })
}

/// Each run the scan found, numbered in the order first seen: one hash lookup per
/// record, and none while records of one run follow each other (a batch).
#[derive(Default)]
struct Found {
    slots: ByRun<u32>,
    runs: Vec<(Vec<Loc>, RecoveredRun)>,
    last: Option<(Ulid, u32)>,
}

impl Found {
    fn note(&mut self, record: &RecordRef<'_>, loc: Loc) {
        let id = record.run_id;
        let slot = match self.last {
            Some((last, slot)) if last == id => slot,
            _ => {
                let next = self.runs.len() as u32;
                let slot = *self.slots.entry(id).or_insert(next);
                if slot == next {
                    self.runs.push((Vec::new(), RecoveredRun::new(id)));
                }
                self.last = Some((id, slot));
                slot
            }
        };
        let (locs, run) = &mut self.runs[slot as usize];
        locs.push(loc);
        run.note(record);
    }
}

fn missing(first: u32, last: u32) -> String {
    if first == last {
        format!("segment {first} is missing")
    } else {
        format!("segments {first} to {last} are missing")
    }
}

/// A segment that holds nothing yet but its header.
fn fresh(dir: &Path, number: u32) -> io::Result<bool> {
    Ok(fs::metadata(segment::path(dir, number))?.len() <= segment::HEADER_LEN as u64)
}

/// Bytes up to the last one that is not zero.
fn written(rest: &[u8]) -> usize {
    rest.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1)
}

/// A frame at the start of `rest` (non-zero up to `written`) that a crash cut short
/// inside the zeros written ahead of it: only zeros follow what was written of it, and
/// its claimed length (`len`, when its header reads) reaches into them, or its header
/// itself is cut.
/// A run's whole record that fails its checksum ends in its JSON payload, never a
/// zero byte, so it stays damage (a tombstone, ending in its seq, may not).
fn torn_into_zeros(rest: &[u8], written: usize, len: usize, header_reads: bool) -> bool {
    written < rest.len() && if header_reads { len > written } else { written < frame::HEADER }
}

/// The offset of the next frame that decodes cleanly, if any.
fn resync(buf: &[u8], from: usize, max_body: usize) -> Option<usize> {
    (from..buf.len()).find(|&at| matches!(frame::decode(&buf[at..], max_body), Decoded::Frame { .. }))
}

fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}
