//! Node leases on the database's clock: register at start, renew every
//! heartbeat; a node evicted while it was away (paused, partitioned) drops every
//! run it held and registers again under a new id.

use std::sync::Weak;
use std::time::Instant;

use tokio_postgres::Client;
use ulid::Ulid;

use crate::{Inner, PgOptions};

/// The lease as this node last saw it (for `tether status`, `/healthz`, `/metrics`).
#[derive(Debug, Clone, Default)]
pub struct NodeStatus {
    /// When the last renewal succeeded (this process's clock).
    pub renewed: Option<Instant>,
    /// The lease's end as the database set it, RFC 3339.
    pub lease_until: Option<String>,
    /// Times this node found itself evicted and registered again.
    pub evictions: u64,
    /// The last failure to renew, if the last attempt failed.
    pub error: Option<String>,
}

impl NodeStatus {
    pub(crate) fn problem(&self) -> Option<String> {
        self.error.as_ref().map(|e| format!("store: cannot renew this node's lease: {e}"))
    }
}

/// Registers a fresh node id. At start (`replace`), a previous process under the
/// same name is declared dead at once, so its open runs are adopted now rather
/// than after its lease; after an eviction it is not (that process may be the
/// one that replaced this one).
pub(crate) async fn register(
    client: &Client,
    options: &PgOptions,
    replace: bool,
) -> Result<String, tokio_postgres::Error> {
    let id = Ulid::new().to_string();
    if replace {
        client
            .execute(
                "UPDATE tether_nodes SET state = 'dead' WHERE name = $1 AND state = 'alive'",
                &[&options.node_name],
            )
            .await?;
    }
    client
        .execute(
            "INSERT INTO tether_nodes (node_id, name, lease_until)
             VALUES ($1, $2, now() + $3 * interval '1 millisecond')",
            &[&id, &options.node_name, &(options.lease.as_millis() as f64)],
        )
        .await?;
    Ok(id)
}

pub(crate) fn spawn_heartbeat(inner: Weak<Inner>) {
    tokio::spawn(async move {
        loop {
            let Some(this) = inner.upgrade() else { return };
            let every = this.options.heartbeat;
            renew(&this).await;
            drop(this);
            tokio::time::sleep(every).await;
        }
    });
}

async fn renew(inner: &Inner) {
    let me = inner.node.get();
    let lease = inner.options.lease.as_millis() as f64;
    let renewed = async {
        let client = inner.pool.get().await.map_err(|e| e.to_string())?;
        client
            .query_opt(
                "UPDATE tether_nodes SET lease_until = now() + $2 * interval '1 millisecond'
                 WHERE node_id = $1 AND state = 'alive'
                 RETURNING to_char(lease_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                &[&me, &lease],
            )
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    match renewed {
        Ok(Some(row)) => {
            let mut status = inner.status.lock();
            status.renewed = Some(Instant::now());
            status.lease_until = Some(row.get(0));
            status.error = None;
        }
        Ok(None) => evicted(inner, &me).await,
        Err(error) => {
            tracing::warn!(%error, "could not renew this node's lease");
            inner.status.lock().error = Some(error);
        }
    }
}

/// Another node declared this one dead (its lease ran out): every run it held
/// belongs to someone else now. Drop them all (their writes would be fenced
/// anyway) and come back as a new node.
pub(crate) async fn evicted(inner: &Inner, dead: &str) {
    // The heartbeat and the writer may both notice; the first re-registers.
    let _once = inner.evicting.lock().await;
    if inner.node.get() != dead {
        return;
    }
    let dropped = std::mem::take(&mut *inner.owned.lock()).len();
    tracing::error!(runs = dropped, "this node's lease expired and another node took over its runs; registering again");
    let registered = async {
        let client = inner.pool.get().await.map_err(|e| e.to_string())?;
        crate::node::register(&client, &inner.options, false).await.map_err(|e| e.to_string())
    }
    .await;
    match registered {
        Ok(id) => {
            inner.node.set(id);
            inner.status.lock().evictions += 1;
        }
        Err(error) => inner.status.lock().error = Some(error),
    }
}
