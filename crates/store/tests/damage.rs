//! Damage to whole segments is detected and reported, never absorbed silently:
//! deleted, shortened and unreadable segments, lost newest segments; and what is
//! not damage (an interrupted roll, a recorded eviction, a headerless old segment).

use std::fs;
use std::path::Path;
use std::sync::Arc;

use tether_store::{Journal, JournalOptions, Kind, RealFsync, Record, Recovered, StoreError};
use ulid::Ulid;

const SEGMENT_BYTES: u64 = 400;

fn options(accept_damage: bool) -> JournalOptions {
    JournalOptions { segment_bytes: SEGMENT_BYTES, accept_damage, ..JournalOptions::default() }
}

fn record(run_id: Ulid, seq: u32, kind: Kind) -> Record {
    Record { kind, run_id, seq, payload: format!("{{\"seq\":{seq}}}").into_bytes() }
}

fn segment(dir: &Path, number: u32) -> std::path::PathBuf {
    dir.join(format!("seg-{number:08}.log"))
}

/// Ten complete runs written one after another (started, four turns, ended), so
/// each segment holds the records of two or three runs.
async fn populate(dir: &Path) -> Vec<Ulid> {
    let (journal, _) = Journal::open(dir, options(false), Arc::new(RealFsync)).unwrap();
    let mut runs = Vec::new();
    for _ in 0..10 {
        let run = Ulid::new();
        journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
        for seq in 1..5 {
            journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
        }
        journal.append(&[record(run, 5, Kind::Ended)]).await.unwrap();
        runs.push(run);
    }
    runs
}

/// Which segments hold records of `run`, read back from a healthy journal.
fn segments_of(dir: &Path, run: Ulid) -> Vec<u32> {
    let id = run.to_bytes();
    let mut found = Vec::new();
    for number in 1..100 {
        let Ok(bytes) = fs::read(segment(dir, number)) else { break };
        if bytes.windows(16).any(|w| w == id) {
            found.push(number);
        }
    }
    found
}

fn open(dir: &Path, accept: bool) -> Result<(Journal, Recovered), StoreError> {
    Journal::open(dir, options(accept), Arc::new(RealFsync))
}

fn refused(dir: &Path) -> Vec<String> {
    match open(dir, false) {
        Err(StoreError::Damaged(damage)) => damage,
        Err(other) => panic!("expected Damaged, got {other}"),
        Ok(_) => panic!("a damaged journal opened without accept_damage"),
    }
}

#[tokio::test]
async fn a_deleted_segment_is_refused_and_accepted_only_with_its_runs_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let runs = populate(dir.path()).await;
    let placement: Vec<Vec<u32>> = runs.iter().map(|r| segments_of(dir.path(), *r)).collect();
    let before = fs::read_dir(dir.path()).unwrap().count();
    assert!(before >= 5, "several segments: {before}");
    fs::remove_file(segment(dir.path(), 3)).unwrap();

    let damage = refused(dir.path());
    assert_eq!(damage, ["segment 3 is missing"]);
    assert!(!segment(dir.path(), 3).exists() && fs::read_dir(dir.path()).unwrap().count() == before - 1, "left as is");

    let (journal, recovered) = open(dir.path(), true).unwrap();
    assert_eq!(journal.damage(), damage);
    for (run, segments) in runs.iter().zip(&placement) {
        let summary = recovered.runs.iter().find(|r| r.run_id == *run);
        if segments == &[3] {
            // Nothing of it survives: it is known only from the damage report.
            assert!(summary.is_none());
        } else if segments.contains(&3) {
            let summary = summary.expect("a run that lost records is listed, never forgotten");
            assert!(summary.corrupted, "{run} lost records in segment 3");
            assert!(journal.is_corrupted(*run));
        } else {
            let summary = summary.unwrap();
            assert!(!summary.corrupted && summary.ended.is_some(), "{run} is untouched");
            assert_eq!(journal.read(*run, 0..10).unwrap().len(), 6);
        }
    }
    assert!(placement.iter().any(|s| s.contains(&3)) && placement.iter().any(|s| !s.contains(&3)));
}

#[tokio::test]
async fn a_sealed_segment_cut_to_half_is_refused_and_a_run_that_lost_its_end_is_not_re_ended() {
    let dir = tempfile::tempdir().unwrap();
    let runs = populate(dir.path()).await;
    let placement: Vec<Vec<u32>> = runs.iter().map(|r| segments_of(dir.path(), *r)).collect();
    let path = segment(dir.path(), 2);
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len / 2).unwrap();

    let damage = refused(dir.path());
    assert_eq!(damage.len(), 1, "{damage:?}");
    assert!(damage[0].contains("segment 2 is shortened"), "{damage:?}");
    assert_eq!(fs::metadata(&path).unwrap().len(), len / 2, "a sealed segment is never truncated further");

    let (_, recovered) = open(dir.path(), true).unwrap();
    for (run, segments) in runs.iter().zip(&placement) {
        let summary = recovered.runs.iter().find(|r| r.run_id == *run).expect("every run is still listed");
        let whole = summary.records == 6 && summary.started.is_some() && summary.ended.is_some();
        if whole {
            assert!(!summary.corrupted || segments.contains(&2), "{run}");
        } else {
            assert!(summary.corrupted, "{run} lost records and must say so: {summary:?}");
        }
    }
    let lost_end = recovered.runs.iter().filter(|r| r.ended.is_none()).count();
    assert!(lost_end >= 1, "a completed run lost its `ended` record");
    assert!(recovered.runs.iter().filter(|r| r.ended.is_none()).all(|r| r.corrupted));
}

#[tokio::test]
async fn an_unreadable_header_or_an_unknown_version_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    let path = segment(dir.path(), 2);
    let original = fs::read(&path).unwrap();

    let mut newer = original.clone();
    newer[8..12].copy_from_slice(&9u32.to_le_bytes());
    fs::write(&path, &newer).unwrap();
    let damage = refused(dir.path());
    assert!(damage[0].contains("segment 2") && damage[0].contains("format version 9"), "{damage:?}");

    let mut scribbled = original.clone();
    scribbled[..8].copy_from_slice(b"garbage!");
    fs::write(&path, &scribbled).unwrap();
    let damage = refused(dir.path());
    assert!(damage[0].contains("segment 2 is unreadable: no segment header"), "{damage:?}");

    fs::write(&path, &original).unwrap();
    assert!(open(dir.path(), false).is_ok(), "restored, it opens again");
}

#[tokio::test]
async fn losing_the_newest_segments_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    let last = (1..100).take_while(|n| segment(dir.path(), *n).exists()).last().unwrap();
    fs::remove_file(segment(dir.path(), last)).unwrap();
    let damage = refused(dir.path());
    assert_eq!(damage, [format!("segment {} is sealed, but the segments after it are missing", last - 1)]);
    let (journal, _) = open(dir.path(), true).unwrap();
    journal.append(&[record(Ulid::new(), 0, Kind::Started)]).await.unwrap();
    assert!(segment(dir.path(), last).exists(), "appends go to a new segment after the sealed one");
}

#[tokio::test]
async fn a_roll_cut_short_by_a_crash_is_finished_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let runs = populate(dir.path()).await;
    // The state between creating segment N+1 and sealing N: N without its seal (and
    // without the zeros written ahead, which a roll cuts first), N+1 only a header.
    let last = (1..100).take_while(|n| segment(dir.path(), *n).exists()).last().unwrap();
    let sealed = segment(dir.path(), last);
    let bytes = fs::read(&sealed).unwrap();
    let len = bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    fs::OpenOptions::new().write(true).open(&sealed).unwrap().set_len(len).unwrap();
    let mut fresh: Vec<u8> = fs::read(segment(dir.path(), 1)).unwrap()[..16].to_vec();
    fresh[12..16].copy_from_slice(&(last + 1).to_le_bytes());
    fs::write(segment(dir.path(), last + 1), &fresh).unwrap();

    let (journal, recovered) = open(dir.path(), false).expect("an interrupted roll is no damage");
    assert!(recovered.damage.is_empty());
    assert!(recovered.runs.iter().all(|r| !r.corrupted));
    assert_eq!(fs::metadata(&sealed).unwrap().len(), len + 37, "the roll was finished: sealed (8 + 21 + 8 bytes)");
    drop(journal);
    let (_, again) = open(dir.path(), false).unwrap();
    assert!(again.damage.is_empty());
    assert_eq!(again.runs.len(), runs.len());
}

#[tokio::test]
async fn only_runs_with_a_tombstone_are_forgotten_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (evicted, orphan) = (Ulid::new(), Ulid::new());
    {
        let (journal, _) = Journal::open(dir.path(), options(false), Arc::new(RealFsync)).unwrap();
        journal.append(&[record(evicted, 0, Kind::Started), record(evicted, 1, Kind::Turn)]).await.unwrap();
        journal.append(&[record(evicted, 2, Kind::Tombstone)]).await.unwrap();
        // A run whose first records are gone with no eviction recorded.
        journal.append(&[record(orphan, 3, Kind::Turn)]).await.unwrap();
    }
    let (journal, recovered) = open(dir.path(), false).unwrap();
    let evicted_run = recovered.runs.iter().find(|r| r.run_id == evicted).unwrap();
    assert!(evicted_run.tombstoned && !evicted_run.corrupted);
    assert_eq!(journal.len(evicted), 0, "a tombstoned run reads as unknown");
    let orphan_run = recovered.runs.iter().find(|r| r.run_id == orphan).unwrap();
    assert!(orphan_run.corrupted && !orphan_run.tombstoned, "records without their start are flagged, not dropped");
}

#[tokio::test]
async fn segments_written_before_headers_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    {
        let (journal, _) = open(dir.path(), false).unwrap();
        journal.append(&[record(run, 0, Kind::Started), record(run, 1, Kind::Turn)]).await.unwrap();
    }
    let path = segment(dir.path(), 1);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[16..]).unwrap(); // as an older tether wrote it
    let (journal, recovered) = open(dir.path(), false).unwrap();
    assert!(recovered.damage.is_empty() && recovered.corrupt_frames == 0);
    assert_eq!(journal.read(run, 0..9).unwrap().len(), 2);
    journal.append(&[record(run, 2, Kind::Ended)]).await.unwrap();
    assert_eq!(journal.read(run, 0..9).unwrap().len(), 3);
}

#[tokio::test]
async fn an_offline_inspection_changes_nothing_and_reports_its_progress() {
    let dir = tempfile::tempdir().unwrap();
    let runs = populate(dir.path()).await;
    let last = (1..100).take_while(|n| segment(dir.path(), *n).exists()).last().unwrap();
    // A write in flight (or torn) after the newest segment's records, over the zeros written ahead.
    let end = fs::read(segment(dir.path(), last)).unwrap().iter().rposition(|&b| b != 0).unwrap() as u64 + 1;
    let file = fs::OpenOptions::new().write(true).open(segment(dir.path(), last)).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, &[1, 2, 3], end).unwrap();
    let before = fs::read(segment(dir.path(), last)).unwrap();

    let mut seen = Vec::new();
    let inspection =
        tether_store::Inspection::open_with_progress(dir.path(), &mut |done, total| seen.push((done, total))).unwrap();
    assert_eq!(fs::read(segment(dir.path(), last)).unwrap(), before, "nothing truncated");
    assert_eq!(inspection.recovered.truncated_bytes, 3, "the torn tail is reported");
    assert_eq!(inspection.recovered.runs.len(), runs.len());
    assert_eq!(inspection.records(runs[0]).unwrap().len(), 6);
    let total = last as usize;
    assert_eq!(seen, (0..=total).map(|done| (done, total)).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_zeroed_block_in_a_sealed_segment_is_damage_and_never_a_run_000() {
    let dir = tempfile::tempdir().unwrap();
    let runs = populate(dir.path()).await;
    let path = segment(dir.path(), 2);
    let mut bytes = fs::read(&path).unwrap();
    // A block inside the segment's records, past its header, before its seal.
    let zeroed = 40..bytes.len() - 60;
    bytes[zeroed].fill(0);
    fs::write(&path, &bytes).unwrap();

    let damage = refused(dir.path());
    assert!(!damage.is_empty() && damage.iter().all(|d| d.starts_with("segment 2 ")), "{damage:?}");
    assert!(damage.iter().any(|d| d.contains("unreadable")), "{damage:?}");

    let (_, recovered) = open(dir.path(), true).unwrap();
    assert!(recovered.runs.iter().all(|r| !r.run_id.is_nil()), "no phantom run 000…0: {:?}", recovered.runs);
    assert!(recovered.runs.iter().all(|r| runs.contains(&r.run_id)), "only runs that were written");
    assert!(recovered.corrupt_frames > 0);
    // Every run that kept records in segment 2 but lost some is flagged, not re-ended.
    for run in recovered.runs.iter().filter(|r| r.records < 6) {
        assert!(run.corrupted, "{} lost records", run.run_id);
    }
}

/// Runs `f` on a thread of its own and fails, rather than hangs, past a deadline.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what} hung"))
}

#[tokio::test]
async fn a_fifo_directory_or_symlink_named_as_a_segment_is_refused_by_name_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path()).await;
    let count = fs::read_dir(dir.path()).unwrap().count() as u32;
    let fifo = segment(dir.path(), count + 1);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let at = dir.path().to_owned();
    let error = within("opening a journal with a FIFO", move || open(&at, true).map(|_| ()).unwrap_err());
    let text = error.to_string();
    assert!(text.contains(&format!("seg-{:08}.log", count + 1)) && text.contains("FIFO"), "{text}");

    fs::remove_file(&fifo).unwrap();
    fs::create_dir(&fifo).unwrap();
    let at = dir.path().to_owned();
    let text =
        within("opening a journal with a directory", move || open(&at, true).map(|_| ()).unwrap_err()).to_string();
    assert!(text.contains("a directory, not a regular file"), "{text}");

    fs::remove_dir(&fifo).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &fifo).unwrap();
    let at = dir.path().to_owned();
    let text = within("opening a journal with a symlink", move || open(&at, true).map(|_| ()).unwrap_err()).to_string();
    assert!(text.contains("a symlink, not a regular file"), "{text}");

    fs::remove_file(&fifo).unwrap();
    open(dir.path(), false).expect("the journal opens once the intruder is gone");
}
