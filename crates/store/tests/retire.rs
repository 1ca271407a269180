//! History goes away, damage detection stays: segments that hold nothing live are
//! deleted once their numbers are in the retirement manifest (synced before the
//! unlink), tombstones go once no other segment holds their run's records, and a
//! number missing without being retired is still damage. Real files on a real
//! disk; the crash windows are real kills (SIGKILL at a failpoint) of a child process.

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tether_store::{Journal, JournalOptions, Kind, RealFsync, Record, Recovered, StoreError};
use ulid::Ulid;

/// Two or three runs a segment.
const SEGMENT_BYTES: u64 = 600;
/// Runs kept by the churn's retention.
const KEEP: usize = 3;

fn options(accept_damage: bool) -> JournalOptions {
    JournalOptions { segment_bytes: SEGMENT_BYTES, accept_damage, ..JournalOptions::default() }
}

fn open(dir: &Path) -> Result<(Journal, Recovered), StoreError> {
    Journal::open(dir, options(false), Arc::new(RealFsync))
}

fn record(run_id: Ulid, seq: u32, kind: Kind) -> Record {
    Record { kind, run_id, seq, payload: format!("{{\"seq\":{seq}}}").into_bytes() }
}

fn segment(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("seg-{number:08}.log"))
}

/// Segment numbers on disk.
fn on_disk(dir: &Path) -> Vec<u32> {
    let mut numbers: Vec<u32> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    numbers.sort_unstable();
    numbers
}

/// The numbers the retirement manifest names (magic, version, count, then
/// (first, last) ranges, little-endian, then a CRC).
fn retired(dir: &Path) -> Vec<u32> {
    let bytes = fs::read(dir.join("retired")).unwrap();
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(&bytes[..8], b"TETHERRT");
    (0..word(12) as usize).flat_map(|i| word(16 + 8 * i)..=word(20 + 8 * i)).collect()
}

/// `runs` runs one after another (started, three turns, ended), each agent-less
/// run evicted as retention would once `KEEP` newer ones ended: a tombstone
/// appended (durably), then forgotten. Returns the runs kept.
async fn churn(journal: &Journal, runs: usize, mut kept: VecDeque<Ulid>) -> VecDeque<Ulid> {
    for _ in 0..runs {
        let run = Ulid::new();
        journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
        for seq in 1..4 {
            journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
        }
        journal.append(&[record(run, 4, Kind::Ended)]).await.unwrap();
        kept.push_back(run);
        while kept.len() > KEEP {
            let old = kept.pop_front().unwrap();
            journal.append(&[record(old, 5, Kind::Tombstone)]).await.unwrap();
            journal.forget(&[old]).await;
        }
    }
    kept
}

/// The runs a journal recovered, oldest first: retention goes on from there.
fn kept_of(recovered: &Recovered) -> VecDeque<Ulid> {
    let mut kept: Vec<Ulid> = recovered.runs.iter().filter(|r| !r.tombstoned).map(|r| r.run_id).collect();
    kept.sort();
    kept.into()
}

/// Every run a journal recovered is whole (started, three turns, ended; or, with
/// `in_flight`, one run cut short by a kill), unflagged, and reads back; no
/// evicted run comes back, even in part.
fn assert_whole(journal: &Journal, recovered: &Recovered, kept: Option<&VecDeque<Ulid>>, in_flight: bool) {
    assert!(recovered.damage.is_empty(), "{:?}", recovered.damage);
    let live: Vec<_> = recovered.runs.iter().filter(|r| !r.tombstoned).collect();
    let mut cut_short = 0;
    for run in &live {
        assert!(!run.corrupted && run.started.is_some(), "{run:?}");
        if run.ended.is_none() {
            cut_short += 1;
        }
        assert_eq!(journal.read(run.run_id, 0..10).unwrap().len(), run.records as usize);
    }
    assert!(cut_short <= usize::from(in_flight), "{cut_short} runs without their end");
    assert!(live.len() <= KEEP + 2, "{} runs came back", live.len());
    if let Some(kept) = kept {
        let mut ids: Vec<Ulid> = live.iter().map(|r| r.run_id).collect();
        ids.sort();
        let mut expected: Vec<Ulid> = kept.iter().copied().collect();
        expected.sort();
        assert_eq!(ids, expected);
    }
}

#[tokio::test]
async fn under_churn_the_files_stop_growing_and_a_reopen_finds_exactly_the_kept_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path()).unwrap();
    let mut kept = churn(&journal, 40, VecDeque::new()).await;
    let warm = journal.stats();
    let mut most = 0;
    for _ in 0..8 {
        kept = churn(&journal, 40, kept).await;
        let stats = journal.stats();
        most = most.max(stats.segments);
        assert_eq!(stats.segments, on_disk(dir.path()).len(), "the count is the files");
    }
    let stats = journal.stats();
    let newest = *on_disk(dir.path()).last().unwrap();
    assert!(newest > 100, "segments rolled: {newest}");
    assert!(most <= 8, "at most {most} segments on disk after {newest} rolled");
    assert!(stats.retired >= newest as u64 - 8, "{stats:?}");
    assert!(stats.bytes <= 8 * SEGMENT_BYTES, "{stats:?}");
    assert!(stats.tombstones <= 2 * KEEP, "tombstones are dropped: {stats:?} (after warm-up: {warm:?})");
    assert!(fs::metadata(dir.path().join("retired")).unwrap().len() < 64, "the manifest stays small");
    drop(journal);

    let (journal, recovered) = open(dir.path()).unwrap();
    assert_whole(&journal, &recovered, Some(&kept), false);
    let tombstones = recovered.runs.iter().filter(|r| r.tombstoned).count();
    assert!(tombstones <= 2 * KEEP, "{tombstones} tombstones read at open, of {} evictions", 360 - KEEP);
    // And it goes on from there, numbering after every retired segment.
    let kept = churn(&journal, 40, kept).await;
    drop(journal);
    let (journal, recovered) = open(dir.path()).unwrap();
    assert_whole(&journal, &recovered, Some(&kept), false);
    assert!(*on_disk(dir.path()).first().unwrap() > newest - 8);
}

#[tokio::test]
async fn a_missing_segment_that_was_not_retired_is_still_damage() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (journal, _) = open(dir.path()).unwrap();
        // Long-lived runs keep some early segments (and their numbers) on disk.
        let mut pinned = Vec::new();
        for _ in 0..3 {
            let run = Ulid::new();
            journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
            churn(&journal, 12, VecDeque::new()).await;
            pinned.push(run);
        }
        churn(&journal, 30, VecDeque::new()).await;
        // Drain the writer (a compaction pass answered when done): a handle dropped does
        // not wait for its writer thread, whose last retirement could race the reopen.
        journal.forget(&[]).await;
    }
    {
        // Retired numbers are not damage. The open's own compaction runs on its writer
        // thread: drained before the handle goes, so it cannot race the opens below.
        let (journal, _) = open(dir.path()).expect("retired numbers are not damage");
        journal.forget(&[]).await;
    }
    let present = on_disk(dir.path());
    assert!(present[0] == 1 && present.len() >= 5, "{present:?}");
    let gap = present.windows(2).find(|w| w[1] > w[0] + 1).expect("some numbers retired between kept segments");

    let refused = |dir: &Path| match open(dir) {
        Err(StoreError::Damaged(damage)) => damage,
        Err(other) => panic!("expected Damaged, got {other}"),
        Ok(_) => panic!("a damaged journal opened"),
    };
    // A segment still live, deleted: refused, named.
    let victim = present[1];
    let saved = fs::read(segment(dir.path(), victim)).unwrap();
    fs::remove_file(segment(dir.path(), victim)).unwrap();
    assert_eq!(refused(dir.path()), [format!("segment {victim} is missing")]);
    fs::write(segment(dir.path(), victim), &saved).unwrap();

    // The manifest lost: every retired number reads as missing.
    let manifest = fs::read(dir.path().join("retired")).unwrap();
    fs::remove_file(dir.path().join("retired")).unwrap();
    let damage = refused(dir.path());
    assert!(
        damage
            .iter()
            .any(|d| d.contains(&format!("segment {} ", gap[0] + 1))
                || d.contains(&format!("segments {} to", gap[0] + 1))),
        "{damage:?}"
    );
    // Damaged: refused, saying so.
    let mut flipped = manifest.clone();
    flipped[16] ^= 0x40;
    fs::write(dir.path().join("retired"), &flipped).unwrap();
    assert!(refused(dir.path())[0].contains("retirement manifest is unreadable"));
    fs::write(dir.path().join("retired"), &manifest).unwrap();

    // The newest segment lost, past every retired number: refused.
    let newest = *present.last().unwrap();
    let saved = fs::read(segment(dir.path(), newest)).unwrap();
    fs::remove_file(segment(dir.path(), newest)).unwrap();
    assert!(!refused(dir.path()).is_empty());
    fs::write(segment(dir.path(), newest), &saved).unwrap();

    let (journal, recovered) = open(dir.path()).expect("restored, it opens");
    assert!(recovered.damage.is_empty());
    assert_eq!(recovered.runs.iter().filter(|r| !r.tombstoned && r.ended.is_none()).count(), 3);
    drop(journal);
}

#[tokio::test]
async fn reads_hold_a_bounded_number_of_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions { max_open_segments: 2, ..options(false) };
    let (journal, _) = Journal::open(dir.path(), options.clone(), Arc::new(RealFsync)).unwrap();
    let mut runs = Vec::new();
    for _ in 0..60 {
        let run = Ulid::new();
        journal.append(&[record(run, 0, Kind::Started), record(run, 1, Kind::Ended)]).await.unwrap();
        runs.push(run);
    }
    assert!(journal.stats().segments >= 6);
    for _ in 0..2 {
        for &run in &runs {
            assert_eq!(journal.read(run, 0..2).unwrap().len(), 2);
            assert!(journal.stats().open_files <= 3, "{:?}", journal.stats());
        }
    }
    drop(journal);
    let (journal, _) = Journal::open(dir.path(), options, Arc::new(RealFsync)).unwrap();
    assert_eq!(journal.stats().open_files, 1, "only the writer's until something is read");
    assert_eq!(journal.read(runs[0], 0..2).unwrap().len(), 2);
}

/// Whether this process is a kill's victim (see `crash_at`).
const CHILD_DIR: &str = "TETHER_TEST_RETIRE_DIR";

/// Churns the journal in `$TETHER_TEST_RETIRE_DIR` until the armed failpoint kills it.
#[tokio::test]
#[ignore = "run by crash_at, in a child process with a failpoint armed"]
async fn churn_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else { return };
    let (journal, recovered) = open(Path::new(&dir)).unwrap();
    churn(&journal, 200, kept_of(&recovered)).await;
    panic!("the failpoint was never reached");
}

/// Runs `churn_until_killed` in a child process that SIGKILLs itself at `failpoint`,
/// then opens what it left.
async fn crash_at(failpoint: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["churn_until_killed", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_DIR, dir.path())
        .env("TETHER_JOURNAL_FAILPOINT", failpoint)
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "killed at {failpoint}: {status:?}");
    dir
}

#[tokio::test]
async fn a_kill_between_the_mark_and_the_unlink_finishes_the_retirement_at_open() {
    let dir = crash_at("retire-after-mark").await;
    let present = on_disk(dir.path());
    // The window: numbers in the manifest whose files are still there.
    let inspection = tether_store::Inspection::open(dir.path()).unwrap();
    assert!(inspection.recovered.damage.is_empty(), "an offline reader skips them too");
    assert!(inspection.segments < present.len(), "the manifest names segments still on disk: {present:?}");
    assert_eq!(inspection.retired, retired(dir.path()).len() as u64);
    let retired = retired(dir.path());
    assert!(present.iter().any(|n| retired.contains(n)), "{present:?} on disk, {retired:?} retired");
    let (journal, recovered) = open(dir.path()).expect("no damage: the retirement is finished");
    assert!(!on_disk(dir.path()).iter().any(|n| retired.contains(n)), "the leftovers are deleted");
    assert_whole(&journal, &recovered, None, false);
    churn(&journal, 20, kept_of(&recovered)).await;
    drop(journal);
    let (journal, recovered) = open(dir.path()).unwrap();
    assert_whole(&journal, &recovered, None, false);
}

#[tokio::test]
async fn a_kill_after_the_unlink_opens_clean() {
    let dir = crash_at("retire-after-unlink").await;
    let (journal, recovered) = open(dir.path()).expect("no damage");
    assert_whole(&journal, &recovered, None, false);
    churn(&journal, 20, kept_of(&recovered)).await;
    drop(journal);
    let (journal, recovered) = open(dir.path()).unwrap();
    assert_whole(&journal, &recovered, None, false);
}

#[tokio::test]
async fn a_kill_at_any_point_of_churn_loses_nothing_and_resurrects_nothing() {
    // Kills at arbitrary moments, not at a failpoint: each restart opens clean and
    // holds exactly whole runs.
    let dir = tempfile::tempdir().unwrap();
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["churn_until_killed", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_DIR, dir.path())
            .env("TETHER_JOURNAL_FAILPOINT", "none")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 70 * round));
        let _ = child.kill();
        child.wait().unwrap();
        let (journal, recovered) = open(dir.path()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_whole(&journal, &recovered, None, true);
    }
}

#[tokio::test]
async fn a_corrupt_record_of_an_evicted_run_keeps_its_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let (long, evicted) = (Ulid::new(), Ulid::new());
    let big = |run, seq, kind| Record { kind, run_id: run, seq, payload: vec![b' '; 540] };
    {
        let (journal, _) = open(dir.path()).unwrap();
        // Segment 1: a long run's start and the evicted run's start.
        journal.append(&[Record { payload: vec![b' '; 300], ..record(long, 0, Kind::Started) }]).await.unwrap();
        journal.append(&[record(evicted, 0, Kind::Started)]).await.unwrap();
        // Segment 2: the long run's turn; segment 3: the evicted run's end and tombstone.
        journal.append(&[big(long, 1, Kind::Turn)]).await.unwrap();
        journal.append(&[record(evicted, 1, Kind::Ended)]).await.unwrap();
        journal.append(&[record(evicted, 2, Kind::Tombstone)]).await.unwrap();
        journal.append(&[big(long, 2, Kind::Turn)]).await.unwrap();
        journal.forget(&[evicted]).await;
        assert_eq!(on_disk(dir.path()), [1, 2, 3, 4], "the tombstone waits for segment 1");
    }
    // A bit flips in the evicted run's start, in segment 1, which the long run keeps.
    let path = segment(dir.path(), 1);
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.windows(16).position(|w| w == evicted.to_bytes()).unwrap();
    bytes[at + 20] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    for _ in 0..2 {
        let (journal, recovered) = open(dir.path()).unwrap();
        journal.forget(&[]).await;
        assert!(recovered.damage.is_empty(), "{:?}", recovered.damage);
        let listed: Vec<Ulid> = recovered.runs.iter().filter(|r| !r.tombstoned).map(|r| r.run_id).collect();
        assert_eq!(listed, [long], "the evicted run stays evicted, not listed as a corrupt run");
        assert!(on_disk(dir.path()).contains(&3), "its tombstone is kept while a record of it is there");
    }
}

/// A small deterministic generator (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[tokio::test]
async fn interleaved_runs_evicted_in_any_order_come_back_exactly_after_every_reopen() {
    for seed in [1u64, 7, 42, 2026] {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Rng(seed);
        // (run, records so far); finished runs have ended.
        let mut active: Vec<(Ulid, u32)> = Vec::new();
        let mut finished: Vec<(Ulid, u32)> = Vec::new();
        let mut newest_seen = 0;
        for round in 0..6 {
            let (journal, recovered) = Journal::open(dir.path(), options(false), Arc::new(RealFsync)).unwrap();
            assert!(recovered.damage.is_empty(), "seed {seed} round {round}: {:?}", recovered.damage);
            let mut expected: Vec<(Ulid, u32)> = active.iter().chain(&finished).copied().collect();
            expected.sort();
            let mut got: Vec<(Ulid, u32)> =
                recovered.runs.iter().filter(|r| !r.tombstoned).map(|r| (r.run_id, r.records)).collect();
            got.sort();
            assert_eq!(got, expected, "seed {seed} round {round}: exactly the runs not evicted, whole");
            for run in recovered.runs.iter().filter(|r| !r.tombstoned) {
                assert!(!run.corrupted, "seed {seed} round {round}: {run:?}");
                assert_eq!(journal.read(run.run_id, 0..1000).unwrap().len(), run.records as usize);
            }
            for _ in 0..300 {
                match rng.below(10) {
                    0..=1 if active.len() < 6 => {
                        let run = Ulid::new();
                        journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
                        active.push((run, 1));
                    }
                    2 if !active.is_empty() => {
                        let (run, seq) = active.swap_remove(rng.below(active.len()));
                        journal.append(&[record(run, seq, Kind::Ended)]).await.unwrap();
                        finished.push((run, seq + 1));
                    }
                    3..=4 if finished.len() > 3 => {
                        let (run, seq) = finished.swap_remove(rng.below(finished.len()));
                        journal.append(&[record(run, seq, Kind::Tombstone)]).await.unwrap();
                        journal.forget(&[run]).await;
                    }
                    _ if !active.is_empty() => {
                        let i = rng.below(active.len());
                        let (run, seq) = active[i];
                        journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
                        active[i].1 += 1;
                    }
                    _ => {}
                }
            }
            let present = on_disk(dir.path());
            newest_seen = newest_seen.max(*present.last().unwrap());
            let live = active.len() + finished.len();
            assert!(present.len() <= 2 * live + 4, "seed {seed}: {} files for {live} runs", present.len());
        }
        assert!(newest_seen > 20, "seed {seed}: segments rolled ({newest_seen})");
    }
}
