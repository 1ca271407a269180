//! Ending runs on request, and reading them: list, trace, subscribe, resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tether_core::{Context, Principal};
use tether_proto::runs::{
    Ack, CancelParams, CompleteParams, ListParams, ListResult, ResumeResult, RunRecord, RunStatus, SubscribeResult,
    TRACE_EVENT, TRACE_LAGGED, Termination, TraceEvent, TracePage, TraceParams, TraceResult,
};
use tokio::sync::mpsc;
use ulid::Ulid;

use crate::cursor;
use crate::error::{RunsError, invalid};
use crate::run::{Run, Subscriber};
use crate::runs::{Runs, parse_record};

const LIST_DEFAULT: u32 = 50;
const LIST_MAX: u32 = 200;
const TRACE_DEFAULT: u32 = 100;
const TRACE_MAX: u32 = 500;

impl Runs {
    pub async fn complete(self: &Arc<Self>, cx: &Context, params: CompleteParams) -> Result<Ack, RunsError> {
        let run = self.readable(cx, &params.run_id)?;
        let status = params.outcome.status;
        self.end(&run, Termination::Outcome { status, outcome: params.outcome }, None).await?;
        self.release(cx, run.id);
        self.retain_later(run.agent_id.to_string());
        Ok(Ack { run_id: params.run_id, ok: true })
    }

    pub async fn cancel(self: &Arc<Self>, cx: &Context, params: CancelParams) -> Result<Ack, RunsError> {
        let run = self.readable(cx, &params.run_id)?;
        self.end(&run, Termination::Cancelled { reason: params.reason }, None).await?;
        self.release(cx, run.id);
        self.retain_later(run.agent_id.to_string());
        Ok(Ack { run_id: params.run_id, ok: true })
    }

    fn release(&self, cx: &Context, run: Ulid) {
        self.connections.with(cx, |c| {
            c.owned.remove(&run);
            if c.current == Some(run) {
                c.current = None;
            }
        });
    }

    pub fn list(&self, cx: &Context, params: ListParams) -> Result<ListResult, RunsError> {
        let limit = bounded(params.limit, LIST_DEFAULT, LIST_MAX)? as usize;
        let agent_id = match (cx.principal(), params.agent_id) {
            (Principal::Agent(bound), Some(asked)) if *bound != *asked => {
                // Another agent's runs read as none, not as a refusal.
                return Ok(ListResult { agent_id: Some(asked), runs: Vec::new(), next_cursor: None });
            }
            (Principal::Agent(bound), _) => Some(bound.to_string()),
            (Principal::Operator, asked) => asked,
        };
        let before = params.cursor.as_deref().map(cursor::parse_list).transpose()?;
        let runs: Vec<Arc<Run>> = {
            let index = self.index.lock();
            let ids = match &agent_id {
                Some(agent) => index.by_agent.get(agent),
                None => Some(&index.all),
            };
            let Some(ids) = ids else { return Ok(ListResult { agent_id, runs: Vec::new(), next_cursor: None }) };
            let newest_first: Box<dyn Iterator<Item = &Ulid>> = match before {
                Some(before) => Box::new(ids.range(..before).rev()),
                None => Box::new(ids.iter().rev()),
            };
            newest_first.take(limit + 1).filter_map(|id| index.runs.get(id).cloned()).collect()
        };
        let more = runs.len() > limit;
        let page: Vec<_> = runs.into_iter().take(limit).collect();
        let next_cursor = more.then(|| cursor::list(page.last().unwrap().id));
        Ok(ListResult { agent_id, runs: page.iter().map(|r| r.summary()).collect(), next_cursor })
    }

    /// Every run of one agent, newest first (for `sessions.get`).
    pub fn summaries_for(&self, agent: &str) -> Vec<tether_proto::runs::RunSummary> {
        let index = self.index.lock();
        let Some(ids) = index.by_agent.get(agent) else { return Vec::new() };
        ids.iter().rev().filter_map(|id| index.runs.get(id)).map(|run| run.summary()).collect()
    }

    pub fn trace(&self, cx: &Context, params: TraceParams) -> Result<TraceResult, RunsError> {
        let limit = bounded(params.limit, TRACE_DEFAULT, TRACE_MAX)? as usize;
        let Ok(run) = self.readable(cx, &params.run_id) else {
            return Ok(TraceResult::NotFound { run_id: params.run_id, not_found: true });
        };
        if run.state.lock().corrupted {
            return Err(RunsError::Corrupt(run.id.to_string()));
        }
        let total = self.journal.len(run.id);
        let end = match params.cursor.as_deref() {
            Some(c) => cursor::parse_trace(c)?.min(total),
            None => total,
        };
        let start = end.saturating_sub(limit);
        let mut records = self.read_records(&run, start..end)?;
        records.reverse();
        Ok(TraceResult::Found(TracePage {
            run_id: run.id.to_string(),
            agent_id: run.agent_id.to_string(),
            records,
            next_cursor: (start > 0).then(|| cursor::trace(start)),
        }))
    }

    fn read_records(&self, run: &Run, range: std::ops::Range<usize>) -> Result<Vec<RunRecord>, RunsError> {
        let stored = self.journal.read(run.id, range).map_err(|_| RunsError::Corrupt(run.id.to_string()))?;
        Ok(stored.iter().filter_map(|r| parse_record(&r.payload, run.id)).collect())
    }

    /// A snapshot, then every later record as `runs.trace.event`, with no gap and no duplicate.
    pub async fn subscribe(&self, cx: &Context, run_id: &str) -> Result<SubscribeResult, RunsError> {
        let run = self.readable(cx, run_id)?;
        let conn = cx.connection_id();
        let max = self.config.max_subscriptions;
        let full = self.connections.with(cx, |c| !c.subscriptions.contains(&run.id) && c.subscriptions.len() >= max);
        if full {
            let what = "too many run subscriptions on this connection";
            return Err(RunsError::Limit { what, limit: "runs.max_subscriptions", value: max });
        }
        let (events, mut rx) = mpsc::channel::<TraceEvent>(self.config.subscription_queue.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        let (snapshot, live_cursor, status) = {
            // The append lock: no record can land between the snapshot and the registration.
            let _serial = run.append.lock().await;
            let records = run.state.lock().records as usize;
            let snapshot = self.read_records(&run, 0..records)?;
            let mut state = run.state.lock();
            state.subscribers.retain(|s| s.connection != conn);
            state.subscribers.push(Subscriber { connection: conn, events, lagged: lagged.clone() });
            (snapshot, records as u64, state.status)
        };
        self.connections.with(cx, |c| c.subscriptions.insert(run.id));
        let cx = cx.clone();
        let run_id = run.id.to_string();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if cx.notify_politely(TRACE_EVENT, serde_json::to_value(event).unwrap()).await.is_err() {
                    return;
                }
            }
            if lagged.load(Ordering::Acquire) {
                let _ = cx.notify(TRACE_LAGGED, serde_json::json!({ "run_id": run_id })).await;
            }
        });
        Ok(SubscribeResult {
            run_id: run.id.to_string(),
            agent_id: run.agent_id.to_string(),
            status,
            snapshot,
            live_cursor,
        })
    }

    pub fn unsubscribe(&self, cx: &Context, run_id: &str) -> Result<Ack, RunsError> {
        let run = self.readable(cx, run_id)?;
        let conn = cx.connection_id();
        run.state.lock().subscribers.retain(|s| s.connection != conn);
        let was = self.connections.with(cx, |c| c.subscriptions.remove(&run.id));
        Ok(Ack { run_id: run_id.to_owned(), ok: was })
    }

    /// Reclaims an in-progress run for this connection; its old connection is fenced off.
    pub fn resume(&self, cx: &Context, run_id: &str) -> Result<ResumeResult, RunsError> {
        if !self.resumable(cx) {
            return Err(RunsError::ResumeNotNegotiated);
        }
        let run = self.readable(cx, run_id)?;
        let conn = cx.connection_id();
        let records = {
            let mut state = run.state.lock();
            if state.status != RunStatus::InProgress {
                return Err(RunsError::AlreadyEnded {
                    run_id: run_id.to_owned(),
                    status: crate::runs::status_name(state.status),
                });
            }
            state.owner = Some(conn);
            state.records as u64
        };
        self.connections.disown_except(run.id, conn);
        self.connections.with(cx, |c| {
            c.owned.insert(run.id);
            c.current = Some(run.id);
        });
        tracing::info!(run = %run.id, conn, "run resumed by a new connection");
        Ok(ResumeResult {
            run_id: run_id.to_owned(),
            agent_id: run.agent_id.to_string(),
            status: RunStatus::InProgress,
            records,
        })
    }
}

fn bounded(limit: Option<u32>, default: u32, max: u32) -> Result<u32, RunsError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(invalid("limit", format!("{n} is outside 1..={max}"))),
    }
}
