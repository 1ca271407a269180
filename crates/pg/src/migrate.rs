//! Versioned SQL migrations, applied at start under an advisory lock, so that
//! daemons starting together apply each exactly once.

use tokio_postgres::Client;

/// Every migration, in order; a version is never edited once released.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_approvals.sql")),
    (3, include_str!("../migrations/0003_listing.sql")),
    (4, include_str!("../migrations/0004_events.sql")),
    (5, include_str!("../migrations/0005_retention.sql")),
];

/// Any constant shared by every tether: the lock's key ("tether" in ASCII).
const LOCK_KEY: i64 = 0x7465_7468_6572;

/// Applies the migrations this database lacks; returns the schema version.
pub(crate) async fn apply(client: &mut Client) -> Result<i32, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tether_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let row = tx.query_one("SELECT coalesce(max(version), 0) FROM tether_migrations", &[]).await?;
    let current: i32 = row.get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO tether_migrations (version) VALUES ($1)", &[version]).await?;
        tracing::info!(version, "applied a store migration");
    }
    tx.commit().await?;
    Ok(MIGRATIONS.last().map_or(0, |(v, _)| *v).max(current))
}
