//! Reading the segments back at open: rebuild the index, truncate a torn tail,
//! report damage in the middle.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;

use ulid::Ulid;

use crate::frame::{self, Decoded, Kind};
use crate::journal::{Loc, Recovered, RecoveredRun, RunLocs};
use crate::segment;

pub(crate) struct Scan {
    pub(crate) runs: HashMap<Ulid, RunLocs>,
    pub(crate) recovered: Recovered,
}

pub(crate) fn scan(dir: &Path, numbers: &[u32], max_body: usize) -> io::Result<Scan> {
    let mut runs: HashMap<Ulid, RunLocs> = HashMap::new();
    let mut summaries: HashMap<Ulid, RecoveredRun> = HashMap::new();
    let mut report = Recovered::default();
    for (i, &number) in numbers.iter().enumerate() {
        let is_last = i + 1 == numbers.len();
        let path = segment::path(dir, number);
        let buf = fs::read(&path)?;
        let mut offset = 0;
        while offset < buf.len() {
            match frame::decode(&buf[offset..], max_body) {
                Decoded::Frame { record, len } => {
                    let loc = Loc { segment: number, offset: offset as u64, len: len as u32, seq: record.seq };
                    runs.entry(record.run_id).or_default().locs.push(loc);
                    let summary = summaries.entry(record.run_id).or_insert_with(|| RecoveredRun::new(record.run_id));
                    summary.note(&record);
                    if let Kind::Unknown(kind) = record.kind {
                        report.unknown_kinds += 1;
                        tracing::warn!(kind, run = %record.run_id, "journal record of an unknown kind (written by a newer tether?)");
                    }
                    offset += len;
                }
                Decoded::Incomplete => {
                    let torn = (buf.len() - offset) as u64;
                    if is_last {
                        truncate(&path, offset as u64)?;
                        report.truncated_bytes += torn;
                        tracing::warn!(segment = number, bytes = torn, "truncated a torn tail");
                    } else {
                        report.corrupt_frames += 1;
                        tracing::error!(segment = number, offset, "sealed segment ends in a partial frame");
                    }
                    break;
                }
                Decoded::Corrupt { len, run_id } => {
                    if buf[offset..].iter().all(|&b| b == 0) && is_last {
                        // Blocks the filesystem allocated but never wrote: a torn tail too.
                        truncate(&path, offset as u64)?;
                        report.truncated_bytes += (buf.len() - offset) as u64;
                        tracing::warn!(segment = number, "truncated a zero-filled tail");
                        break;
                    }
                    report.corrupt_frames += 1;
                    tracing::error!(segment = number, offset, run = ?run_id, "corrupt journal record");
                    if let Some(run_id) = run_id {
                        runs.entry(run_id).or_default().corrupted = true;
                        summaries.entry(run_id).or_insert_with(|| RecoveredRun::new(run_id)).corrupted = true;
                    }
                    // Skip the damaged frame; if its header is unreadable, find the next good one.
                    offset = match run_id {
                        Some(_) => offset + len,
                        None => resync(&buf, offset + 1, max_body).unwrap_or(buf.len()),
                    };
                }
            }
        }
    }
    for locs in runs.values_mut() {
        locs.locs.sort_by_key(|loc| loc.seq);
    }
    let mut runs_out: Vec<RecoveredRun> = summaries.into_values().collect();
    runs_out.sort_by_key(|r| r.run_id);
    report.runs = runs_out;
    Ok(Scan { runs, recovered: report })
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
