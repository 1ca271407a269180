//! Group commit: one task, one dedicated connection; every append waiting when
//! a transaction ends goes into the next one. A waiter hears back only after
//! COMMIT returned (with `synchronous_commit = on`), so nothing is acknowledged
//! that is not durable.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tether_store::{Kind, Record, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Config, NoTls};
use ulid::Ulid;

/// One append: its records grouped by run, each run with the fence it is written under.
pub(crate) struct Job {
    pub(crate) runs: Vec<RunWrite>,
    pub(crate) done: oneshot::Sender<Result<(), StoreError>>,
}

pub(crate) struct RunWrite {
    pub(crate) run_id: Ulid,
    pub(crate) fence: i64,
    /// A new run (its `started` record is among the records): its agent.
    pub(crate) new_agent: Option<String>,
    pub(crate) records: Vec<Record>,
}

impl RunWrite {
    fn first_seq(&self) -> i32 {
        self.records.first().map_or(0, |r| r.seq as i32)
    }

    fn turns(&self) -> i32 {
        self.records.iter().filter(|r| r.kind == Kind::Turn).count() as i32
    }

    fn ends(&self) -> bool {
        self.records.iter().any(|r| r.kind == Kind::Ended)
    }
}

/// What became of each run of a batch.
pub(crate) struct Outcome {
    pub(crate) written: HashSet<Ulid>,
}

pub(crate) async fn run(
    config: Config,
    node: crate::NodeId,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    settled: impl Fn(&[RunWrite], &Outcome) + Send + 'static,
) {
    let mut client: Option<Client> = None;
    let mut held: Option<Job> = None;
    loop {
        let Some(first) = (match held.take() {
            Some(job) => Some(job),
            None => jobs.recv().await,
        }) else {
            return;
        };
        let mut batch = vec![first];
        let mut runs: HashSet<Ulid> = batch[0].runs.iter().map(|w| w.run_id).collect();
        // Whatever queued while the last commit ran joins this one; a job touching
        // a run already in the batch waits for the next (one row update per run).
        while batch.len() < max_batch {
            let Ok(job) = jobs.try_recv() else { break };
            if job.runs.iter().any(|w| runs.contains(&w.run_id)) {
                held = Some(job);
                break;
            }
            runs.extend(job.runs.iter().map(|w| w.run_id));
            batch.push(job);
        }
        let connected = match client.take().filter(|c| !c.is_closed()) {
            Some(c) => Ok(c),
            None => connect(&config).await,
        };
        let mut c = match connected {
            Ok(c) => c,
            Err(error) => {
                fail(batch, StoreError::Database(format!("cannot reach the database: {error}")));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let writes: Vec<&RunWrite> = batch.iter().flat_map(|j| &j.runs).collect();
        let result = commit(&mut c, &node.get(), &writes).await;
        client = Some(c);
        match result {
            Ok(outcome) => {
                for job in batch {
                    let fenced = job.runs.iter().find(|w| !outcome.written.contains(&w.run_id)).map(|w| w.run_id);
                    settled(&job.runs, &outcome);
                    let _ = job.done.send(match fenced {
                        None => Ok(()),
                        Some(run_id) => Err(StoreError::Fenced { run_id }),
                    });
                }
            }
            Err(error) => {
                // Unknown outcome (the commit may or may not have happened): never acknowledged.
                fail(batch, StoreError::Database(error.to_string()));
            }
        }
    }
}

fn fail(batch: Vec<Job>, error: StoreError) {
    for job in batch {
        let _ = job.done.send(Err(error.clone()));
    }
}

pub(crate) async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "store connection ended");
        }
    });
    // Acknowledge only what reached disk, whatever the server's default says.
    client.batch_execute("SET synchronous_commit = on").await?;
    Ok(client)
}

/// One transaction for the whole batch: new runs inserted, the others updated
/// only where this node's fence still holds, then the records of the runs that
/// passed. A fenced run writes nothing and fails only its own waiters.
async fn commit(client: &mut Client, node: &str, writes: &[&RunWrite]) -> Result<Outcome, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let mut written = HashSet::new();

    let new: Vec<&&RunWrite> = writes.iter().filter(|w| w.new_agent.is_some()).collect();
    if !new.is_empty() {
        let ids: Vec<String> = new.iter().map(|w| w.run_id.to_string()).collect();
        let agents: Vec<&str> = new.iter().map(|w| w.new_agent.as_deref().unwrap_or_default()).collect();
        let records: Vec<i32> = new.iter().map(|w| w.records.len() as i32).collect();
        let turns: Vec<i32> = new.iter().map(|w| w.turns()).collect();
        let ended: Vec<bool> = new.iter().map(|w| w.ends()).collect();
        let rows = tx
            .query(
                "INSERT INTO tether_runs (run_id, agent_id, owner_node, fence, records, turns, ended)
                 SELECT c.run_id, c.agent_id, CASE WHEN c.ended THEN NULL ELSE $6 END, 1, c.records, c.turns, c.ended
                 FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bool[])
                      AS c(run_id, agent_id, records, turns, ended)
                 ON CONFLICT (run_id) DO NOTHING
                 RETURNING run_id",
                &[&ids, &agents, &records, &turns, &ended, &node],
            )
            .await?;
        written.extend(rows.iter().filter_map(|r| Ulid::from_string(r.get::<_, &str>(0)).ok()));
    }

    let old: Vec<&&RunWrite> = writes
        .iter()
        .filter(|w| w.new_agent.is_none() && w.records.iter().any(|r| r.kind != Kind::Tombstone))
        .collect();
    if !old.is_empty() {
        let ids: Vec<String> = old.iter().map(|w| w.run_id.to_string()).collect();
        let fences: Vec<i64> = old.iter().map(|w| w.fence).collect();
        let firsts: Vec<i32> = old.iter().map(|w| w.first_seq()).collect();
        let counts: Vec<i32> = old.iter().map(|w| w.records.len() as i32).collect();
        let turns: Vec<i32> = old.iter().map(|w| w.turns()).collect();
        let ended: Vec<bool> = old.iter().map(|w| w.ends()).collect();
        let rows = tx
            .query(
                "UPDATE tether_runs r
                 SET records = r.records + c.n, turns = r.turns + c.t, ended = c.e,
                     owner_node = CASE WHEN c.e THEN NULL ELSE r.owner_node END
                 FROM unnest($1::text[], $2::bigint[], $3::int[], $4::int[], $5::int[], $6::bool[])
                      AS c(run_id, fence, first, n, t, e)
                 WHERE r.run_id = c.run_id AND r.fence = c.fence AND r.owner_node = $7
                   AND r.records = c.first AND NOT r.ended
                 RETURNING r.run_id",
                &[&ids, &fences, &firsts, &counts, &turns, &ended, &node],
            )
            .await?;
        written.extend(rows.iter().filter_map(|r| Ulid::from_string(r.get::<_, &str>(0)).ok()));
    }
    // Tombstones (retention) need no row: `forget` deletes the run.
    for write in writes.iter().filter(|w| w.records.iter().all(|r| r.kind == Kind::Tombstone)) {
        written.insert(write.run_id);
    }

    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    let mut kinds = Vec::new();
    let mut fences = Vec::new();
    let mut payloads: Vec<&[u8]> = Vec::new();
    let fence_of: HashMap<Ulid, i64> = writes.iter().map(|w| (w.run_id, w.fence)).collect();
    for write in writes.iter().filter(|w| written.contains(&w.run_id)) {
        for record in write.records.iter().filter(|r| r.kind != Kind::Tombstone) {
            ids.push(record.run_id.to_string());
            seqs.push(record.seq as i32);
            kinds.push(record.kind.code() as i16);
            fences.push(fence_of[&write.run_id]);
            payloads.push(&record.payload);
        }
    }
    if !ids.is_empty() {
        tx.execute(
            "INSERT INTO tether_records (run_id, seq, kind, fence, payload)
             SELECT * FROM unnest($1::text[], $2::int[], $3::smallint[], $4::bigint[], $5::bytea[])",
            &[&ids, &seqs, &kinds, &fences, &payloads],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Outcome { written })
}
