//! Group commit: one task, one dedicated connection; every append waiting when
//! a commit ends goes into the next one, written by one statement (one round trip). A waiter hears back only after
//! COMMIT returned (with `synchronous_commit = on`), so nothing is acknowledged
//! that is not durable.

use std::collections::HashSet;
use std::time::Duration;

use tether_store::{DbError, Kind, Record, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Statement};

use crate::tls::Database;
use ulid::Ulid;

/// One append: its records grouped by run, each run with the fence it is written under.
pub(crate) struct Job {
    pub(crate) runs: Vec<RunWrite>,
    pub(crate) done: oneshot::Sender<Result<(), StoreError>>,
    /// Run once the job's records are committed (`RunStore::append_then`), before `done`
    /// is answered, whether or not the appender still waits.
    pub(crate) then: Option<tether_store::Then>,
}

pub(crate) struct RunWrite {
    pub(crate) run_id: Ulid,
    pub(crate) fence: i64,
    /// A new run (its `started` record is among the records): its agent.
    pub(crate) new_agent: Option<String>,
    /// A new run's idempotency key, unique per agent across nodes.
    pub(crate) idempotency_key: Option<String>,
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
    /// This node was still alive in `tether_nodes` when the batch ran.
    pub(crate) alive: bool,
}

/// Re-registers this node after a batch found it declared dead (given the dead id).
pub(crate) type Evict =
    std::sync::Arc<dyn Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

pub(crate) async fn run(
    config: Database,
    node: crate::NodeId,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    evict: Evict,
    settled: impl Fn(&[RunWrite], &Outcome) + Send + 'static,
) {
    let mut writer: Option<(Client, Statement)> = None;
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
        let connected = match writer.take().filter(|(c, _)| !c.is_closed()) {
            Some(w) => Ok(w),
            None => connect_writer(&config).await,
        };
        let (c, statement) = match connected {
            Ok(c) => c,
            Err(error) => {
                let sqlstate = crate::Failure::sqlstate(&error);
                fail(
                    batch,
                    StoreError::Database(DbError::new(
                        format!("cannot reach the database: {}", crate::tls::explain(&error)),
                        sqlstate,
                    )),
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let writes: Vec<&RunWrite> = batch.iter().flat_map(|j| &j.runs).collect();
        let me = node.get();
        let mut result = commit(&c, &statement, &me, &writes).await;
        if let Ok(outcome) = &result
            && !outcome.alive
        {
            // Declared dead while away: nothing was written. Come back as a new node
            // (which drops every run this node held) and write the batch again:
            // its new runs land under the new id, its old runs are fenced.
            evict(me).await;
            for job in &mut batch {
                for write in &mut job.runs {
                    if write.new_agent.is_none() {
                        write.fence = -1;
                    }
                }
            }
            let writes: Vec<&RunWrite> = batch.iter().flat_map(|j| &j.runs).collect();
            result = commit(&c, &statement, &node.get(), &writes).await;
        }
        writer = Some((c, statement));
        match result {
            Ok(outcome) => {
                for job in batch {
                    let refused = job.runs.iter().find(|w| !outcome.written.contains(&w.run_id));
                    let result = match refused {
                        None => Ok(()),
                        // A new run is refused only by its idempotency key's unique index:
                        // the one conflict `WRITE` skips (any other is an error, SQLSTATE kept).
                        Some(w) if w.new_agent.is_some() => Err(StoreError::Duplicate { run_id: w.run_id }),
                        Some(w) => Err(StoreError::Fenced { run_id: w.run_id }),
                    };
                    settled(&job.runs, &outcome);
                    // The appender's code: its panic must not end the store's only writer.
                    if let (Ok(()), Some(then)) = (&result, job.then)
                        && std::panic::catch_unwind(std::panic::AssertUnwindSafe(then)).is_err()
                    {
                        tracing::error!("an append's follow-up panicked in the batch writer");
                    }
                    let _ = job.done.send(result);
                }
            }
            Err(error) => {
                // Unknown outcome (the commit may or may not have happened): never acknowledged.
                fail(batch, crate::db(error));
            }
        }
    }
}

fn fail(batch: Vec<Job>, error: StoreError) {
    for job in batch {
        let _ = job.done.send(Err(error.clone()));
    }
}

async fn connect_writer(config: &Database) -> Result<(Client, Statement), tokio_postgres::Error> {
    let client = connect(config).await?;
    let statement = client.prepare(WRITE).await?;
    Ok((client, statement))
}

pub(crate) async fn connect(config: &Database) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect().await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "store connection ended");
        }
    });
    // Acknowledge only what reached disk, whatever the server's default says.
    client.batch_execute("SET synchronous_commit = on").await?;
    Ok(client)
}

const WRITE: &str = "WITH alive AS (SELECT 1 FROM tether_nodes WHERE node_id = $6 AND state = 'alive'),
             new_runs AS (
                 INSERT INTO tether_runs (run_id, agent_id, owner_node, fence, records, turns, ended, idempotency_key)
                 SELECT c.run_id, c.agent_id, CASE WHEN c.ended THEN NULL ELSE $6 END, 1, c.records, c.turns, c.ended,
                        c.idempotency_key
                 FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::bool[], $18::text[])
                      AS c(run_id, agent_id, records, turns, ended, idempotency_key)
                 WHERE EXISTS (SELECT 1 FROM alive)
                 ON CONFLICT (agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                 RETURNING run_id),
             old_runs AS (
                 UPDATE tether_runs r
                 SET records = r.records + c.n, turns = r.turns + c.t, ended = c.e,
                     owner_node = CASE WHEN c.e THEN NULL ELSE r.owner_node END
                 FROM unnest($7::text[], $8::bigint[], $9::int[], $10::int[], $11::int[], $12::bool[])
                      AS c(run_id, fence, first, n, t, e)
                 WHERE r.run_id = c.run_id AND r.fence = c.fence AND r.owner_node = $6
                   AND r.records = c.first AND NOT r.ended AND EXISTS (SELECT 1 FROM alive)
                 RETURNING r.run_id),
             accepted AS (SELECT run_id FROM new_runs UNION ALL SELECT run_id FROM old_runs),
             records AS (
                 INSERT INTO tether_records (run_id, seq, kind, fence, payload)
                 SELECT x.run_id, x.seq, x.kind, x.fence, x.payload
                 FROM unnest($13::text[], $14::int[], $15::smallint[], $16::bigint[], $17::bytea[])
                      AS x(run_id, seq, kind, fence, payload)
                 WHERE x.run_id IN (SELECT run_id FROM accepted))
             SELECT EXISTS (SELECT 1 FROM alive), array(SELECT run_id FROM accepted)";

/// One statement for the whole batch, so one round trip that commits: new runs
/// inserted, the others updated only where this node's fence still holds (and the
/// first seq follows the last), then the records of the runs that passed. A
/// fenced run writes nothing and fails only its own waiters.
async fn commit(
    client: &Client,
    statement: &Statement,
    node: &str,
    writes: &[&RunWrite],
) -> Result<Outcome, tokio_postgres::Error> {
    let is_tombstone = |w: &RunWrite| w.records.iter().all(|r| r.kind == Kind::Tombstone);
    let new: Vec<&&RunWrite> = writes.iter().filter(|w| w.new_agent.is_some()).collect();
    let old: Vec<&&RunWrite> = writes.iter().filter(|w| w.new_agent.is_none() && !is_tombstone(w)).collect();
    // Tombstones (retention) need no row: `forget` deletes the run.
    let mut written: HashSet<Ulid> = writes.iter().filter(|w| is_tombstone(w)).map(|w| w.run_id).collect();

    let new_ids: Vec<String> = new.iter().map(|w| w.run_id.to_string()).collect();
    let new_agents: Vec<&str> = new.iter().map(|w| w.new_agent.as_deref().unwrap_or_default()).collect();
    let new_records: Vec<i32> = new.iter().map(|w| w.records.len() as i32).collect();
    let new_turns: Vec<i32> = new.iter().map(|w| w.turns()).collect();
    let new_ended: Vec<bool> = new.iter().map(|w| w.ends()).collect();
    let new_keys: Vec<Option<&str>> = new.iter().map(|w| w.idempotency_key.as_deref()).collect();
    let old_ids: Vec<String> = old.iter().map(|w| w.run_id.to_string()).collect();
    let old_fences: Vec<i64> = old.iter().map(|w| w.fence).collect();
    let old_firsts: Vec<i32> = old.iter().map(|w| w.first_seq()).collect();
    let old_counts: Vec<i32> = old.iter().map(|w| w.records.len() as i32).collect();
    let old_turns: Vec<i32> = old.iter().map(|w| w.turns()).collect();
    let old_ended: Vec<bool> = old.iter().map(|w| w.ends()).collect();

    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    let mut kinds = Vec::new();
    let mut fences = Vec::new();
    let mut payloads: Vec<&[u8]> = Vec::new();
    for write in writes.iter().filter(|w| !is_tombstone(w)) {
        for record in write.records.iter().filter(|r| r.kind != Kind::Tombstone) {
            ids.push(record.run_id.to_string());
            seqs.push(record.seq as i32);
            kinds.push(record.kind.code() as i16);
            fences.push(write.fence);
            payloads.push(&record.payload);
        }
    }
    let rows = client
        .query(
            statement,
            &[
                &new_ids,
                &new_agents,
                &new_records,
                &new_turns,
                &new_ended,
                &node,
                &old_ids,
                &old_fences,
                &old_firsts,
                &old_counts,
                &old_turns,
                &old_ended,
                &ids,
                &seqs,
                &kinds,
                &fences,
                &payloads,
                &new_keys,
            ],
        )
        .await?;
    let row = rows.first().expect("the statement returns one row");
    let alive: bool = row.get(0);
    let accepted: Vec<String> = row.get(1);
    written.extend(accepted.iter().filter_map(|id| Ulid::from_string(id).ok()));
    Ok(Outcome { written, alive })
}
