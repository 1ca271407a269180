//! The offline reader behind `tether journal verify` and `export`: a journal directory
//! scanned without changing anything and without the data directory's lock.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ulid::Ulid;

use crate::frame::{self, Decoded, Record};
use crate::journal::{ByRun, JournalOptions, Recovered, RunLocs, StoreError};
use crate::retired::{self, Retired};
use crate::{recover, segment};

/// A journal directory as an offline reader sees it: scanned without changing
/// anything and without the data directory's lock, so it is safe beside a running
/// daemon (whose write in flight may show as a torn tail, in `truncated_bytes`).
pub struct Inspection {
    pub recovered: Recovered,
    pub segments: usize,
    pub bytes: u64,
    /// Segment numbers the retirement manifest names (deleted on purpose).
    pub retired: u64,
    dir: PathBuf,
    runs: ByRun<RunLocs>,
    max_body: usize,
}

impl Inspection {
    pub fn open(dir: &Path) -> Result<Inspection, StoreError> {
        Inspection::open_with_progress(dir, &mut |_, _| {})
    }

    /// Like [`Inspection::open`], telling `progress` (segments done, segments in all) as it goes.
    pub fn open_with_progress(dir: &Path, progress: &mut dyn FnMut(usize, usize)) -> Result<Inspection, StoreError> {
        // A running daemon may retire a segment while this reads: one listed and
        // then gone is looked for again, in a listing taken afresh.
        let mut attempts = 0;
        loop {
            match Inspection::scan(dir, progress) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 5 => attempts += 1,
                other => return Ok(other?),
            }
        }
    }

    fn scan(dir: &Path, progress: &mut dyn FnMut(usize, usize)) -> io::Result<Inspection> {
        // The listing first, then the manifest: a daemon writes the manifest before
        // it unlinks, so a segment missing from the listing on purpose is in it.
        let listed = segment::list(dir)?;
        let (retired, manifest_damage) = match retired::load(dir)? {
            Ok(retired) => (retired, None),
            Err(why) => (Retired::default(), Some(why)),
        };
        // A segment named in the manifest is gone as far as anyone reads: its
        // removal was under way when a crash (or this reader) came.
        let numbers: Vec<u32> = listed.into_iter().filter(|&n| !retired.contains(n)).collect();
        let max_body = JournalOptions::default().max_record_bytes + frame::BODY_PREFIX;
        let mut scan = recover::scan(dir, &numbers, &retired, max_body, None, progress)?;
        if let Some(why) = manifest_damage {
            scan.recovered.damage.insert(0, why);
        }
        progress(numbers.len(), numbers.len());
        let mut bytes = 0;
        for &number in &numbers {
            bytes += std::fs::metadata(segment::path(dir, number))?.len();
        }
        Ok(Inspection {
            recovered: scan.recovered,
            segments: numbers.len(),
            bytes,
            retired: retired.count(),
            dir: dir.to_owned(),
            runs: scan.runs,
            max_body,
        })
    }

    /// Every readable record of one run, oldest first.
    pub fn records(&self, run_id: Ulid) -> Result<Vec<Record>, StoreError> {
        let Some(run) = self.runs.get(&run_id) else { return Ok(Vec::new()) };
        let mut files: HashMap<u32, File> = HashMap::new();
        let mut out = Vec::with_capacity(run.locs.len());
        for (seq, loc) in run.locs.iter().enumerate() {
            let file = match files.entry(loc.segment) {
                std::collections::hash_map::Entry::Occupied(file) => file.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(File::open(segment::path(&self.dir, loc.segment))?)
                }
            };
            let mut buf = vec![0; loc.len as usize];
            file.read_exact_at(&mut buf, loc.offset)?;
            match frame::decode(&buf, self.max_body) {
                Decoded::Frame { record, .. } if record.run_id == run_id => out.push(record.to_record()),
                _ => return Err(StoreError::Corrupt { run_id, seq }),
            }
        }
        Ok(out)
    }
}
