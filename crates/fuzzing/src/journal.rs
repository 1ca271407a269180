//! Journal recovery over arbitrary segment bytes: the input is cut into segment
//! files at each `SPLIT` (at most 8), and a retirement manifest if a piece starts like one. Opening, with and without accepting damage,
//! and reading back every recovered run must never panic.

use std::io;
use std::sync::Arc;

use tether_store::{Fsync, Journal, JournalOptions};

/// Recovery's logic, not the disk's speed, is what is fuzzed.
struct NoSync;

impl Fsync for NoSync {
    fn sync(&self, _: &std::fs::File) -> io::Result<()> {
        Ok(())
    }
}

const SPLIT: &[u8] = b"\xff\xfe\xfd\xfc";

pub fn journal(data: &[u8]) {
    let dir = segments(data);
    for accept_damage in [false, true] {
        let options = JournalOptions {
            segment_bytes: 4096,
            max_record_bytes: 1 << 16,
            accept_damage,
            ..JournalOptions::default()
        };
        if let Ok((journal, recovered)) = Journal::open(dir.path(), options, Arc::new(NoSync)) {
            for run in &recovered.runs {
                let _ = journal.read(run.run_id, 0..run.records as usize + 1);
            }
        }
    }
}

/// The CLI's offline reader (`tether journal verify`, `tether journal show`) over the
/// same segment files: it never writes, and must report damage, never panic or hang.
pub fn journal_inspect(data: &[u8]) {
    let dir = segments(data);
    if let Ok(inspection) = tether_store::Inspection::open(dir.path()) {
        for run in &inspection.recovered.runs {
            let _ = inspection.records(run.run_id);
        }
    }
}

/// The input as up to 8 segment files in a scratch directory; a piece that starts
/// like a retirement manifest (`TETHERRT`) is the manifest instead (the last such wins).
fn segments(data: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(crate::scratch()).unwrap();
    let mut rest = data;
    let mut number = 1;
    for _ in 0..9 {
        let end = rest.windows(SPLIT.len()).position(|w| w == SPLIT).unwrap_or(rest.len());
        let piece = &rest[..end];
        if piece.starts_with(b"TETHERRT") {
            std::fs::write(dir.path().join("retired"), piece).unwrap();
        } else if number <= 8 {
            std::fs::write(dir.path().join(format!("seg-{number:08}.log")), piece).unwrap();
            number += 1;
        }
        if end == rest.len() {
            break;
        }
        rest = &rest[end + SPLIT.len()..];
    }
    dir
}
