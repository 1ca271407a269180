//! `tether journal verify | export`: offline, straight from the data directory's
//! segment files. They take no lock and change nothing, so they are safe beside a
//! running daemon (a record it is writing may show as a torn tail).

use serde_json::{Value, json};

use super::print;
use super::{Failure, Outcome};
use crate::cli::{Conn, JournalCommand};

pub fn run(command: JournalCommand) -> Outcome {
    match command {
        JournalCommand::Verify { conn } => verify(&conn),
        JournalCommand::Export { run, conn } => export(&conn, &run),
    }
}

fn inspect(conn: &Conn) -> Result<tether_store::Inspection, Failure> {
    let dir =
        crate::connect::data_dir(&conn.target).ok_or(Failure::Usage("no data directory: pass --data-dir".into()))?;
    let journal = dir.join("journal");
    if !journal.is_dir() {
        return Err(Failure::Usage(format!("{} holds no journal", dir.display())));
    }
    // A progress line for people watching a long scan; nothing when stderr is a file or a pipe.
    let watched = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |done: usize, total: usize| {
        if watched && total > 1 {
            eprint!("\rscanning segment {done}/{total}{}", if done == total { "\n" } else { "" });
        }
    };
    tether_store::Inspection::open_with_progress(&journal, &mut progress).map_err(|e| Failure::Usage(e.to_string()))
}

fn verify(conn: &Conn) -> Outcome {
    let inspection = inspect(conn)?;
    let recovered = &inspection.recovered;
    let corrupted: Vec<String> = recovered.runs.iter().filter(|r| r.corrupted).map(|r| r.run_id.to_string()).collect();
    let live: Vec<_> = recovered.runs.iter().filter(|r| !r.tombstoned).collect();
    let report = json!({
        "segments": inspection.segments,
        "retired_segments": inspection.retired,
        "bytes": inspection.bytes,
        "runs": live.len(),
        "records": live.iter().map(|r| r.records as u64).sum::<u64>(),
        "evicted": recovered.runs.len() - live.len(),
        "corrupt_records": recovered.corrupt_frames,
        "torn_tail_bytes": recovered.truncated_bytes,
        "damage": recovered.damage,
        "corrupted_runs": corrupted,
    });
    print::one(conn, &report, |r| {
        let mut text = format!(
            "{} segments ({} more retired), {} bytes: {} runs, {} records ({} evicted runs awaiting compaction)",
            r["segments"], r["retired_segments"], r["bytes"], r["runs"], r["records"], r["evicted"]
        );
        if r["torn_tail_bytes"] != 0 {
            text.push_str(&format!("\n{} bytes at the end are a write in flight or a torn tail", r["torn_tail_bytes"]));
        }
        for line in r["damage"].as_array().into_iter().flatten() {
            text.push_str(&format!("\ndamage: {}", print::text(line)));
        }
        for run in r["corrupted_runs"].as_array().into_iter().flatten() {
            text.push_str(&format!("\ncorrupted run: {}", print::text(run)));
        }
        text
    });
    if recovered.damage.is_empty() && recovered.corrupt_frames == 0 && corrupted.is_empty() {
        Ok(())
    } else {
        Err(Failure::Refused("the journal is damaged".into()))
    }
}

fn export(conn: &Conn, run: &str) -> Outcome {
    let run_id = ulid::Ulid::from_string(run).map_err(|_| Failure::Usage(format!("{run} is not a run id")))?;
    let inspection = inspect(conn)?;
    let records = inspection.records(run_id).map_err(|e| Failure::Refused(e.to_string()))?;
    if records.is_empty() {
        return Err(Failure::Refused(format!("no run {run} in the journal")));
    }
    for record in records {
        let value: Value = serde_json::from_slice(&record.payload)
            .unwrap_or_else(|_| json!({"record": "unreadable", "seq": record.seq}));
        println!("{value}");
    }
    Ok(())
}
