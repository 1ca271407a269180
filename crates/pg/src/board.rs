//! The `ApprovalBoard` on PostgreSQL: approvals any node lists and settles, with a
//! compare-and-set on `pending` so the first settlement wins.

use tether_store::{ApprovalBoard, Settled, StoreError, StoreFuture};

use crate::{PgStore, db, storable};

impl ApprovalBoard for PgStore {
    fn post<'a>(&'a self, id: &'a str, approval: &'a [u8]) -> StoreFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await.map_err(db)?;
            client
                .execute(
                    "INSERT INTO tether_approvals (approval_id, state, body) VALUES ($1, 'pending', $2)
                     ON CONFLICT (approval_id) DO NOTHING",
                    &[&id, &approval],
                )
                .await
                .map_err(db)?;
            Ok(())
        })
    }

    fn settle<'a>(
        &'a self,
        id: &'a str,
        state: &'a str,
        approval: &'a [u8],
    ) -> StoreFuture<'a, Result<Settled, StoreError>> {
        Box::pin(async move {
            storable("approval_id", id)?;
            let client = self.inner.pool.get().await.map_err(db)?;
            let won = client
                .execute(
                    "UPDATE tether_approvals SET state = $2, body = $3, settled_at = now()
                     WHERE approval_id = $1 AND state = 'pending'",
                    &[&id, &state, &approval],
                )
                .await
                .map_err(db)?;
            if won == 1 {
                return Ok(Settled::Now);
            }
            let row = client
                .query_opt("SELECT body FROM tether_approvals WHERE approval_id = $1", &[&id])
                .await
                .map_err(db)?;
            Ok(row.map_or(Settled::Unknown, |r| Settled::Already(r.get(0))))
        })
    }

    fn all(&self) -> StoreFuture<'_, Result<Vec<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await.map_err(db)?;
            let rows = client
                .query("SELECT body FROM tether_approvals ORDER BY created_at, approval_id", &[])
                .await
                .map_err(db)?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    fn settled_among<'a>(&'a self, ids: &'a [String]) -> StoreFuture<'a, Result<Vec<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await.map_err(db)?;
            let rows = client
                .query("SELECT body FROM tether_approvals WHERE approval_id = ANY($1) AND state <> 'pending'", &[&ids])
                .await
                .map_err(db)?;
            Ok(rows.into_iter().map(|r| r.get(0)).collect())
        })
    }

    fn prune(&self, retention: std::time::Duration) -> StoreFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let client = self.inner.pool.get().await.map_err(db)?;
            let ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            // Settled before version 5 recorded when: counted from creation instead.
            client
                .execute(
                    "DELETE FROM tether_approvals WHERE state <> 'pending'
                     AND coalesce(settled_at, created_at) < now() - $1 * interval '1 millisecond'",
                    &[&(ms as f64)],
                )
                .await
                .map_err(db)
        })
    }
}
