//! The journal on a real disk: durability, group commit, recovery from damage.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tether_store::{Fsync, Journal, JournalOptions, Kind, RealFsync, Record};
use ulid::Ulid;

fn record(run_id: Ulid, seq: u32, kind: Kind) -> Record {
    Record { kind, run_id, seq, payload: format!("{{\"seq\":{seq}}}").into_bytes() }
}

fn open(dir: &Path) -> (Journal, tether_store::Recovered) {
    Journal::open(dir, JournalOptions::default(), Arc::new(RealFsync)).unwrap()
}

/// The segment header's length.
const HEADER: u64 = 16;

fn segment(dir: &Path) -> std::path::PathBuf {
    dir.join("seg-00000001.log")
}

/// Where the first segment's records end: the zeros the writer keeps ahead follow.
/// (A frame ends in its payload, never a zero byte.)
fn records_end(dir: &Path) -> u64 {
    let bytes = fs::read(segment(dir)).unwrap();
    bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last as u64 + 1)
}

/// Counts syncs, and fails them on demand.
#[derive(Default)]
struct TestFsync {
    syncs: AtomicUsize,
    fail: AtomicBool,
}

impl Fsync for TestFsync {
    fn sync(&self, file: &File) -> io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected fdatasync failure"));
        }
        self.syncs.fetch_add(1, Ordering::SeqCst);
        file.sync_data()
    }
}

#[tokio::test]
async fn records_survive_a_reopen_and_read_back_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Ulid::new(), Ulid::new());
    {
        let (journal, recovered) = open(dir.path());
        assert!(recovered.runs.is_empty());
        journal.append(&[record(a, 0, Kind::Started), record(b, 0, Kind::Started)]).await.unwrap();
        journal.append(&[record(a, 1, Kind::Turn)]).await.unwrap();
        journal.append(&[record(a, 2, Kind::Ended)]).await.unwrap();
        assert_eq!(journal.read(a, 0..10).unwrap().len(), 3);
        assert_eq!(journal.read(a, 1..2).unwrap()[0].seq, 1);
    }
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.runs.len(), 2);
    let run_a = recovered.runs.iter().find(|r| r.run_id == a).unwrap();
    assert_eq!((run_a.records, run_a.turns), (3, 1));
    // `{"seq":N}` three times: what `runs.max_run_bytes` counts after a restart.
    assert_eq!(run_a.bytes, 3 * 9);
    assert!(run_a.started.is_some() && run_a.ended.is_some());
    let run_b = recovered.runs.iter().find(|r| r.run_id == b).unwrap();
    assert!(run_b.ended.is_none());
    let trace = journal.read(a, 0..10).unwrap();
    assert_eq!(trace.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(trace[2].kind, Kind::Ended);
    assert_eq!(journal.read(Ulid::new(), 0..10).unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let fsync = Arc::new(TestFsync::default());
    let (journal, _) = Journal::open(dir.path(), JournalOptions::default(), fsync.clone()).unwrap();
    let before = fsync.syncs.load(Ordering::SeqCst);
    let writers = 64;
    let per_writer = 20;
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let journal = journal.clone();
            tokio::spawn(async move {
                let run = Ulid::new();
                for seq in 0..per_writer {
                    journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
                }
                run
            })
        })
        .collect();
    let mut runs = Vec::new();
    for task in tasks {
        runs.push(task.await.unwrap());
    }
    let syncs = fsync.syncs.load(Ordering::SeqCst) - before;
    let appends = (writers * per_writer) as usize;
    assert!(syncs < appends / 2, "{syncs} syncs for {appends} appends: no group commit");
    for run in runs {
        assert_eq!(journal.len(run), per_writer as usize);
    }
}

#[tokio::test]
async fn a_failed_fsync_acknowledges_nothing_and_poisons_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let fsync = Arc::new(TestFsync::default());
    let (journal, _) = Journal::open(dir.path(), JournalOptions::default(), fsync.clone()).unwrap();
    let run = Ulid::new();
    journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
    fsync.fail.store(true, Ordering::SeqCst);
    assert!(journal.append(&[record(run, 1, Kind::Turn)]).await.is_err());
    assert_eq!(journal.len(run), 1, "the failed record is not readable");
    fsync.fail.store(false, Ordering::SeqCst);
    let again = journal.append(&[record(run, 1, Kind::Turn)]).await;
    assert!(matches!(again, Err(tether_store::StoreError::Poisoned)), "{again:?}");
    assert!(journal.is_poisoned());
}

#[tokio::test]
async fn a_torn_tail_is_truncated_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    let mut ends = Vec::new();
    {
        let (journal, _) = open(dir.path());
        for seq in 0..6 {
            journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
            ends.push(records_end(dir.path()));
        }
    }
    let mut full = fs::read(segment(dir.path())).unwrap();
    full.truncate(records_end(dir.path()) as usize);
    for cut in 0..full.len() as u64 {
        fs::write(segment(dir.path()), &full[..cut as usize]).unwrap();
        let (journal, recovered) = open(dir.path());
        let whole = ends.iter().filter(|&&end| end <= cut).count();
        assert_eq!(journal.len(run), whole, "cut at {cut}");
        assert_eq!(recovered.corrupt_frames, 0, "a torn tail is not corruption (cut {cut})");
        assert!(!journal.is_corrupted(run));
        // A cut inside the 16-byte header is a creation cut short: the header is completed.
        let kept = if whole == 0 { HEADER } else { ends[whole - 1] };
        // Counted up to the last byte written (a zero at the cut is no part of it).
        let written = full[kept.min(cut) as usize..cut as usize].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        assert_eq!(recovered.truncated_bytes, written as u64);
        assert_eq!(fs::metadata(segment(dir.path())).unwrap().len(), kept, "truncated to the last whole frame");
        drop(journal);
    }
}

#[tokio::test]
async fn appends_after_a_truncated_tail_land_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    {
        let (journal, _) = open(dir.path());
        journal.append(&[record(run, 0, Kind::Started), record(run, 1, Kind::Turn)]).await.unwrap();
    }
    let len = records_end(dir.path());
    OpenOptions::new().write(true).open(segment(dir.path())).unwrap().set_len(len - 3).unwrap();
    {
        let (journal, recovered) = open(dir.path());
        assert_eq!(recovered.runs[0].records, 1);
        journal.append(&[record(run, 1, Kind::Turn)]).await.unwrap();
    }
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.corrupt_frames, 0);
    assert_eq!(journal.read(run, 0..9).unwrap().len(), 2);
}

#[tokio::test]
async fn zeros_written_ahead_are_overwritten_in_place_and_cut_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    let ahead = JournalOptions::default().preallocate_bytes;
    {
        let (journal, _) = open(dir.path());
        journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
        let length = fs::metadata(segment(dir.path())).unwrap().len();
        assert_eq!(length, records_end(dir.path()) + ahead, "zeros follow the first record");
        for seq in 1..4 {
            journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
        }
        assert_eq!(fs::metadata(segment(dir.path())).unwrap().len(), length, "later records overwrite them");
    }
    // The daemon stopped (or was killed) with the zeros there.
    let (journal, recovered) = open(dir.path());
    assert_eq!((recovered.truncated_bytes, recovered.corrupt_frames), (0, 0), "zeros are no torn tail");
    assert_eq!(fs::metadata(segment(dir.path())).unwrap().len(), records_end(dir.path()), "cut at open");
    journal.append(&[record(run, 4, Kind::Turn)]).await.unwrap();
    drop(journal);
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.runs[0].records, 5);
    assert_eq!(journal.read(run, 0..9).unwrap().len(), 5, "appends after the cut land after the records");
}

#[tokio::test]
async fn only_a_frame_cut_short_inside_the_zeros_is_a_torn_tail_never_a_damaged_whole_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    let (first_end, second_end);
    {
        let (journal, _) = open(dir.path());
        journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
        first_end = records_end(dir.path()) as usize;
        journal.append(&[record(run, 1, Kind::Turn)]).await.unwrap();
        second_end = records_end(dir.path()) as usize;
    }
    let whole = fs::read(segment(dir.path())).unwrap();
    assert!(whole.len() > second_end, "zeros follow the records");

    // A crash wrote the second frame's first 20 bytes; the rest stayed zeros.
    let mut torn = whole.clone();
    torn[first_end + 20..second_end].fill(0);
    fs::write(segment(dir.path()), &torn).unwrap();
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.corrupt_frames, 0, "a torn write is not damage");
    assert!((1..=20).contains(&recovered.truncated_bytes), "{}", recovered.truncated_bytes);
    assert!(!journal.is_corrupted(run));
    assert_eq!(journal.read(run, 0..9).unwrap().len(), 1);
    assert_eq!(fs::metadata(segment(dir.path())).unwrap().len(), first_end as u64, "cut after the last whole frame");
    drop(journal);

    // The first frame's length gone bad, now reaching past the second frame into the
    // zeros: a whole frame follows it, so it is damage, not a write cut short.
    let mut long = whole.clone();
    let at = HEADER as usize;
    let claimed = u32::from_le_bytes(long[at..at + 4].try_into().unwrap()) + 4096;
    long[at..at + 4].copy_from_slice(&claimed.to_le_bytes());
    fs::write(segment(dir.path()), &long).unwrap();
    let refused = Journal::open(dir.path(), JournalOptions::default(), Arc::new(RealFsync)).err();
    assert!(format!("{refused:?}").contains("corrupt record at offset 16"), "{refused:?}");

    // The second frame was whole, and its last byte went bad since: damage, kept.
    let mut rotten = whole;
    rotten[second_end - 1] ^= 0x10;
    fs::write(segment(dir.path()), &rotten).unwrap();
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.corrupt_frames, 1);
    assert!(journal.is_corrupted(run));
}

#[tokio::test]
async fn a_flipped_bit_in_the_middle_is_reported_and_flags_only_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let (victim, bystander) = (Ulid::new(), Ulid::new());
    let victim_start;
    {
        let (journal, _) = open(dir.path());
        journal.append(&[record(bystander, 0, Kind::Started)]).await.unwrap();
        victim_start = records_end(dir.path());
        journal.append(&[record(victim, 0, Kind::Started)]).await.unwrap();
        journal.append(&[record(bystander, 1, Kind::Turn)]).await.unwrap();
    }
    let mut bytes = fs::read(segment(dir.path())).unwrap();
    let payload_byte = victim_start as usize + 8 + 21 + 2;
    bytes[payload_byte] ^= 0x10;
    fs::write(segment(dir.path()), &bytes).unwrap();

    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.corrupt_frames, 1);
    assert!(journal.is_corrupted(victim));
    assert!(recovered.runs.iter().find(|r| r.run_id == victim).unwrap().corrupted);
    assert!(!journal.is_corrupted(bystander));
    assert_eq!(journal.read(bystander, 0..9).unwrap().len(), 2, "records after the damage are intact");
    let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    assert_eq!(
        fs::read(segment(dir.path())).unwrap().len(),
        end,
        "damage in the middle is kept; the zeros after it go"
    );
}

#[tokio::test]
async fn unknown_record_kinds_are_counted_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    {
        let (journal, _) = open(dir.path());
        journal.append(&[record(run, 0, Kind::Started), record(run, 1, Kind::Unknown(42))]).await.unwrap();
    }
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.unknown_kinds, 1);
    assert_eq!(journal.read(run, 0..9).unwrap()[1].kind, Kind::Unknown(42));
}

#[tokio::test]
async fn segments_roll_and_everything_reads_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions { segment_bytes: 256, ..JournalOptions::default() };
    let run = Ulid::new();
    {
        let (journal, _) = Journal::open(dir.path(), options.clone(), Arc::new(RealFsync)).unwrap();
        for seq in 0..40 {
            journal.append(&[record(run, seq, Kind::Turn)]).await.unwrap();
        }
        assert_eq!(journal.read(run, 0..100).unwrap().len(), 40);
    }
    let segments = fs::read_dir(dir.path()).unwrap().count();
    assert!(segments > 5, "only {segments} segments");
    let (journal, recovered) = Journal::open(dir.path(), options, Arc::new(RealFsync)).unwrap();
    assert_eq!(recovered.runs[0].records, 40);
    let seqs: Vec<u32> = journal.read(run, 0..100).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..40).collect::<Vec<_>>());
}

#[tokio::test]
async fn files_are_private() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("journal");
    let (journal, _) = open(&dir);
    journal.append(&[record(Ulid::new(), 0, Kind::Started)]).await.unwrap();
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(fs::metadata(segment(&dir)).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn an_oversized_record_is_refused_before_it_reaches_disk() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions { max_record_bytes: 100, ..JournalOptions::default() };
    let (journal, _) = Journal::open(dir.path(), options, Arc::new(RealFsync)).unwrap();
    let big = Record { kind: Kind::Turn, run_id: Ulid::new(), seq: 0, payload: vec![b'x'; 101] };
    assert!(matches!(journal.append(&[big]).await, Err(tether_store::StoreError::TooLarge { size: 101, limit: 100 })));
    assert!(!journal.is_poisoned());
}

#[tokio::test]
async fn forgotten_runs_are_compacted_away_and_the_rest_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let options = JournalOptions { segment_bytes: 600, ..JournalOptions::default() };
    let runs: Vec<Ulid> = (0..30).map(|_| Ulid::new()).collect();
    {
        let (journal, _) = Journal::open(dir.path(), options.clone(), Arc::new(RealFsync)).unwrap();
        for round in 0..4 {
            for run in &runs {
                journal.append(&[record(*run, round, Kind::Turn)]).await.unwrap();
            }
        }
        let before = journal.disk_bytes();
        let (keep, drop_) = runs.split_at(3);
        journal.forget(drop_).await;
        let after = journal.disk_bytes();
        // Segments that keep nothing stay behind as a header and a seal (53 bytes).
        assert!(after * 3 < before, "compaction reclaimed too little: {before} → {after} bytes");
        assert_eq!(journal.len(drop_[0]), 0, "a forgotten run reads as unknown at once");
        for run in keep {
            let seqs: Vec<u32> = journal.read(*run, 0..10).unwrap().iter().map(|r| r.seq).collect();
            assert_eq!(seqs, [0, 1, 2, 3], "kept runs read back after compaction");
        }
        journal.append(&[record(keep[0], 4, Kind::Turn)]).await.unwrap();
    }
    let (journal, recovered) = Journal::open(dir.path(), options, Arc::new(RealFsync)).unwrap();
    assert_eq!(recovered.corrupt_frames, 0);
    for run in &recovered.runs {
        if runs[..3].contains(&run.run_id) {
            continue;
        }
        // Records of forgotten runs that sat in the unsealed active segment come back;
        // the ones in sealed, compacted segments do not, so what returns is partial.
        assert!(run.records == 4 && run.turns < 4, "{run:?}");
    }
    for run in &runs[..3] {
        assert!(recovered.runs.iter().any(|r| r.run_id == *run));
    }
    assert_eq!(journal.read(runs[0], 0..10).unwrap().len(), 5);
}

#[tokio::test]
async fn a_leftover_compaction_file_is_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let run = Ulid::new();
    {
        let (journal, _) = open(dir.path());
        journal.append(&[record(run, 0, Kind::Started)]).await.unwrap();
    }
    fs::write(dir.path().join("seg-00000001.log.compact"), b"half written").unwrap();
    let (journal, recovered) = open(dir.path());
    assert_eq!(recovered.corrupt_frames, 0);
    assert_eq!(journal.len(run), 1);
    assert!(!dir.path().join("seg-00000001.log.compact").exists());
}

#[tokio::test]
async fn stored_bytes_counts_a_range_of_frames_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, _) = open(dir.path());
    let run = Ulid::new();
    let records: Vec<Record> = (0..3).map(|seq| record(run, seq, Kind::Turn)).collect();
    journal.append(&records).await.unwrap();
    let payloads: usize = records.iter().map(|r| r.payload.len()).sum();
    let all = journal.stored_bytes(run, 0..3);
    assert!(all > payloads, "framing included: {all} bytes for {payloads} of payload");
    assert_eq!(
        journal.stored_bytes(run, 0..1) + journal.stored_bytes(run, 1..10),
        all,
        "a range past the end stops there"
    );
    assert_eq!(journal.stored_bytes(Ulid::new(), 0..3), 0, "an unknown run takes nothing");
}
