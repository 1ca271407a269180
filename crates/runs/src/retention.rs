//! Retention: per agent, at most N terminal runs and none older than D days.
//! In-progress and corrupted runs are never evicted. The choice is a pure
//! function of the runs and the time, so a restart that brings an evicted
//! run back (before compaction reclaimed it) evicts the same run again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tether_core::stamp;
use tether_proto::runs::RunStatus;
use tether_store::{Kind, Record};
use time::OffsetDateTime;
use ulid::Ulid;

use crate::runs::Runs;

/// How often the age cap is applied even when no run ends.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

pub(crate) struct Candidate {
    pub(crate) id: Ulid,
    pub(crate) terminal: bool,
    pub(crate) corrupted: bool,
    pub(crate) ended_at: Option<OffsetDateTime>,
}

/// The runs to evict from one agent's runs, given newest first.
pub(crate) fn select(newest_first: &[Candidate], keep: usize, max_age_days: u64, now: OffsetDateTime) -> Vec<Ulid> {
    let max_age = (max_age_days > 0).then(|| time::Duration::days(max_age_days as i64));
    let mut kept = 0;
    let mut evict = Vec::new();
    for run in newest_first {
        if !run.terminal || run.corrupted {
            continue;
        }
        let too_old = max_age.zip(run.ended_at).is_some_and(|(age, ended)| now - ended > age);
        let over_cap = keep > 0 && kept >= keep;
        if too_old || over_cap {
            evict.push(run.id);
        } else {
            kept += 1;
        }
    }
    evict
}

impl Runs {
    /// Applies retention to these agents (all when `None`), logging every eviction.
    pub(crate) async fn retain(&self, agents: Option<Vec<String>>, now: OffsetDateTime) {
        let (keep, days) = (self.config.retain_runs_per_agent, self.config.retain_days);
        if keep == 0 && days == 0 {
            return;
        }
        let _one_pass = self.retaining.lock().await;
        let evicted: Vec<(Ulid, String)> = {
            let index = self.index.lock();
            let agents = agents.unwrap_or_else(|| index.by_agent.keys().cloned().collect());
            let mut evicted = Vec::new();
            for agent in agents {
                let Some(ids) = index.by_agent.get(&agent) else { continue };
                let candidates: Vec<Candidate> = ids
                    .values()
                    .rev()
                    .filter_map(|id| index.runs.get(id))
                    .map(|run| {
                        let state = run.state.lock();
                        Candidate {
                            id: run.id,
                            terminal: !matches!(state.status, RunStatus::InProgress | RunStatus::Detached),
                            corrupted: state.corrupted,
                            ended_at: state.ended_at.as_deref().and_then(stamp::parse),
                        }
                    })
                    .collect();
                evicted.extend(select(&candidates, keep, days, now).into_iter().map(|id| (id, agent.clone())));
            }
            evicted
        };
        if evicted.is_empty() {
            return;
        }
        // Each eviction is recorded before anything is forgotten, so that at the next
        // open a run's leftovers read as evicted, not as records lost to damage.
        let tombstones: Vec<Record> = {
            let index = self.index.lock();
            evicted
                .iter()
                .filter_map(|(id, _)| index.runs.get(id))
                .map(|run| Record {
                    kind: Kind::Tombstone,
                    run_id: run.id,
                    seq: run.state.lock().records,
                    payload: Vec::new(),
                })
                .collect()
        };
        if let Err(error) = self.store.append(&tombstones).await {
            return tracing::warn!(%error, "could not record evictions; nothing evicted");
        }
        {
            let mut index = self.index.lock();
            for (id, agent) in &evicted {
                index.remove(id);
                tracing::info!(run = %id, agent, "evicted a run (retention)");
            }
            index.idempotency.retain(|_, (_, run)| !evicted.iter().any(|(id, _)| id == run));
        }
        let ids: Vec<Ulid> = evicted.into_iter().map(|(id, _)| id).collect();
        self.store.forget(&ids).await;
    }

    /// Applies retention to one agent in the background (after one of its runs ends).
    pub(crate) fn retain_later(self: &Arc<Self>, agent: String) {
        let this = self.clone();
        tokio::spawn(async move { this.retain(Some(vec![agent]), OffsetDateTime::now_utc()).await });
    }

    /// The hourly pass that applies the age cap to agents whose runs stopped ending.
    pub(crate) fn spawn_sweeper(runs: Weak<Runs>) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(runs) = runs.upgrade() else { return };
                runs.retain(None, OffsetDateTime::now_utc()).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days_ago: i64, now: OffsetDateTime) -> Option<OffsetDateTime> {
        Some(now - time::Duration::days(days_ago))
    }

    fn run(terminal: bool, corrupted: bool, ended_at: Option<OffsetDateTime>) -> Candidate {
        Candidate { id: tether_core::new_id(), terminal, corrupted, ended_at }
    }

    #[test]
    fn keeps_the_newest_n_terminal_runs_and_never_live_or_corrupt_ones() {
        let now = OffsetDateTime::now_utc();
        let runs = vec![
            run(false, false, None),
            run(true, false, at(0, now)),
            run(true, true, at(1, now)),
            run(true, false, at(2, now)),
            run(true, false, at(3, now)),
            run(false, false, None),
        ];
        let evicted = select(&runs, 2, 0, now);
        assert_eq!(evicted, vec![runs[4].id]);
    }

    #[test]
    fn evicts_what_ended_more_than_d_days_ago() {
        let now = OffsetDateTime::now_utc();
        let runs = vec![run(true, false, at(1, now)), run(true, false, at(31, now)), run(true, true, at(90, now))];
        assert_eq!(select(&runs, 0, 30, now), vec![runs[1].id]);
        assert_eq!(select(&runs, 0, 0, now), Vec::<Ulid>::new(), "0 disables both caps");
    }

    #[test]
    fn the_clock_decides_age() {
        let now = OffsetDateTime::now_utc();
        let runs = vec![run(true, false, at(29, now))];
        assert!(select(&runs, 0, 30, now).is_empty());
        assert_eq!(select(&runs, 0, 30, now + time::Duration::days(2)), vec![runs[0].id]);
    }
}
