//! What this store adds as a shared one (`SharedStore`): ownership across nodes
//! (`take_over` bumps the fence), runs started elsewhere, every node's listing, keys,
//! hints, and adoption of dead nodes' runs.

use tether_store::{RecoveredRun, SharedStore, StoreError, StoreFuture};
use ulid::Ulid;

use crate::{PgStore, db, storable};

impl SharedStore for PgStore {
    fn owns(&self, run_id: Ulid) -> bool {
        self.inner.owned.lock().contains_key(&run_id)
    }

    fn find(&self, run_id: Ulid) -> StoreFuture<'_, Result<Option<RecoveredRun>, StoreError>> {
        Box::pin(self.load(run_id))
    }

    fn take_over(&self, run_id: Ulid) -> StoreFuture<'_, Result<Option<RecoveredRun>, StoreError>> {
        Box::pin(async move {
            let me = self.inner.node.get();
            let client = self.inner.pool.get().await.map_err(db)?;
            let row = client
                .query_opt(
                    "UPDATE tether_runs SET fence = fence + 1, owner_node = $2
                     WHERE run_id = $1 AND NOT ended RETURNING fence",
                    &[&run_id.to_string(), &me],
                )
                .await
                .map_err(db)?;
            let Some(row) = row else { return Ok(None) };
            self.inner.owned.lock().insert(run_id, row.get(0));
            self.load(run_id).await
        })
    }

    fn hints(&self) -> Option<tokio::sync::broadcast::Receiver<Ulid>> {
        Some(self.inner.hints.subscribe())
    }

    fn moves(&self) -> tokio::sync::broadcast::Receiver<Ulid> {
        self.inner.moves.subscribe()
    }

    fn list<'a>(
        &'a self,
        agent: Option<&'a str>,
        before: u64,
        limit: usize,
    ) -> StoreFuture<'a, Result<Vec<(u64, RecoveredRun)>, StoreError>> {
        Box::pin(async move {
            storable("agent_id", agent.unwrap_or_default())?;
            let client = self.inner.pool.get().await.map_err(db)?;
            let before = i64::try_from(before).unwrap_or(i64::MAX);
            let rows = client
                .query(
                    "SELECT r.list_key, r.run_id, r.records, r.turns, s.payload, e.payload
                     FROM tether_runs r
                     LEFT JOIN tether_records s ON s.run_id = r.run_id AND s.seq = 0 AND s.kind = 1
                     LEFT JOIN tether_records e ON e.run_id = r.run_id AND e.seq = r.records - 1 AND e.kind = 3
                     WHERE r.list_key < $1 AND ($2::text IS NULL OR r.agent_id = $2)
                     ORDER BY r.list_key DESC LIMIT $3",
                    &[&before, &agent, &(limit.min(10_000) as i64)],
                )
                .await
                .map_err(db)?;
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    let mut run = RecoveredRun::new(Ulid::from_string(row.get::<_, &str>(1)).ok()?);
                    run.records = row.get::<_, i32>(2) as u32;
                    run.turns = row.get::<_, i32>(3) as u32;
                    run.started = row.get(4);
                    run.ended = row.get(5);
                    Some((row.get::<_, i64>(0) as u64, run))
                })
                .collect())
        })
    }

    fn find_key<'a>(&'a self, agent: &'a str, key: &'a str) -> StoreFuture<'a, Result<Option<Ulid>, StoreError>> {
        Box::pin(async move {
            storable("agent_id", agent)?;
            storable("idempotency_key", key)?;
            let client = self.inner.pool.get().await.map_err(db)?;
            let row = client
                .query_opt(
                    "SELECT run_id FROM tether_runs WHERE agent_id = $1 AND idempotency_key = $2",
                    &[&agent, &key],
                )
                .await
                .map_err(db)?;
            Ok(row.and_then(|r| Ulid::from_string(r.get::<_, &str>(0)).ok()))
        })
    }

    fn adopt_orphans(&self) -> StoreFuture<'_, Result<Vec<RecoveredRun>, StoreError>> {
        Box::pin(self.adopt())
    }
}
