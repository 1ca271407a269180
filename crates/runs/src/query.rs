//! Reading runs: list, trace, subscribe (on this node or followed from the store).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tether_core::{Caller, Paging, PeerExt, Principal, Written};
use tether_proto::runs::{
    Ack, ListParams, ListResult, RunStatus, SubscribeParams, SubscribeResult, TraceEvent, TraceEventMessage,
    TraceLagged, TraceLaggedMessage, TraceParams, TraceResult,
};
use tokio::sync::mpsc;

use crate::error::{RunsError, invalid};
use crate::records::{corrupt_or, record_json};
use crate::run::{Run, Subscriber};
use crate::runs::Runs;
use crate::shared::{Place, Trust};

const LIST_MAX: u32 = 200;
/// `runs.subscribe`'s reply opens with its snapshot, which is read before the fields
/// that follow it are known (`subscribed`); JSON's members have no order.
const SNAPSHOT_OPEN: &str = r#"{"snapshot":["#;
/// `runs.get_trace`'s page opens with its records likewise.
const RECORDS_OPEN: &str = r#"{"records":["#;
const TRACE_MAX: u32 = 500;

impl Runs {
    /// Newest first. `cursor` is a keyset (0: the newest); without `limit`, every run.
    pub async fn list(&self, caller: &Caller, params: ListParams) -> Result<ListResult, RunsError> {
        let limit = bounded(params.limit, LIST_MAX)?;
        let cursor = params.cursor.unwrap_or(0);
        let page = |agent_id, runs, next_cursor| ListResult { agent_id, runs, cursor, limit, next_cursor };
        let agent_id = match (caller.principal(), params.agent_id.clone()) {
            (Principal::Agent(bound), Some(asked)) if *bound != *asked => {
                // Another agent's runs read as none, not as a refusal.
                return Ok(page(Some(asked), Vec::new(), None));
            }
            (Principal::Agent(bound), _) => Some(bound.to_string()),
            (Principal::Operator, asked) => asked,
        };
        let take = limit.map_or(usize::MAX, |n| n as usize);
        if let Some((runs, next_cursor)) = self.list_shared(agent_id.as_deref(), cursor, take, &params).await? {
            return Ok(page(agent_id, runs, next_cursor));
        }
        let runs: Vec<Arc<Run>> = {
            let index = self.index.lock();
            let keys = match &agent_id {
                Some(agent) => index.by_agent.get(agent),
                None => Some(&index.all),
            };
            let Some(keys) = keys else { return Ok(page(agent_id, Vec::new(), None)) };
            let before = if cursor == 0 { u64::MAX } else { cursor };
            let wanted = |run: &Arc<Run>| {
                params.session_id.as_deref().is_none_or(|s| run.agent_id.session_id() == Some(s))
                    && params.status.is_none_or(|status| run.state.lock().status == status)
            };
            let newest_first = keys.range(..before).rev().filter_map(|(_, id)| index.runs.get(id));
            newest_first.filter(|run| wanted(run)).take(take.saturating_add(1)).cloned().collect()
        };
        let more = runs.len() > take;
        let shown: Vec<_> = runs.into_iter().take(take).collect();
        let next_cursor = more.then(|| shown.last().expect("a page before more").key);
        let result = page(agent_id, shown.iter().map(|r| r.summary()).collect(), next_cursor);
        if limit.is_none() {
            self.fits_unpaged("runs.list", &result, LIST_MAX)?;
        }
        Ok(result)
    }

    /// An unpaged reply larger than a default client accepts would close that client's
    /// socket (1009) and lose every other reply on it: the client is told to page instead.
    fn fits_unpaged(
        &self,
        method: &'static str,
        reply: &impl serde::Serialize,
        page_max: u32,
    ) -> Result<(), RunsError> {
        let (max, limit) = self.config.unpaged_reply_bound();
        // The JSON-RPC envelope around the result: id, version, field names.
        let bytes = crate::tools::json_len(reply) + 256;
        if bytes > max {
            return Err(RunsError::PageNeeded { method, paging: Paging::Limit, limit, max, bytes, page_max });
        }
        Ok(())
    }

    /// Every run of one agent, newest first (for `sessions.get`).
    pub fn summaries_for(&self, agent: &str) -> Vec<tether_proto::runs::RunSummary> {
        let index = self.index.lock();
        let Some(ids) = index.by_agent.get(agent) else { return Vec::new() };
        ids.values().rev().filter_map(|id| index.runs.get(id)).map(|run| run.summary()).collect()
    }

    /// The run from this node's index or, with a shared store, as the store has
    /// it now (a run another node started). Unknown and unreadable look alike.
    pub(crate) async fn readable_anywhere(&self, caller: &Caller, run_id: &str) -> Result<Arc<Run>, RunsError> {
        let unknown = || RunsError::UnknownRun(run_id.to_owned());
        let run = match self.locate(run_id, Trust::Confirmed) {
            Place::Here(run) => run,
            Place::Elsewhere(id) => self.read_elsewhere(id).await?.ok_or_else(unknown)?,
            Place::Unknown => return Err(unknown()),
        };
        if run.readable_by(caller.principal()) { Ok(run) } else { Err(unknown()) }
    }

    /// Oldest first, from the record at index `cursor`; without `limit`, every record
    /// from there. Written as it is read (`records_reply`), the page's fields after them.
    pub async fn trace(&self, caller: &Caller, params: TraceParams) -> Result<Written<TraceResult>, RunsError> {
        let limit = bounded(params.limit, TRACE_MAX)?;
        let run = match self.readable_anywhere(caller, &params.run_id).await {
            Ok(run) => run,
            Err(RunsError::UnknownRun(_)) => {
                let mut reply = Written::with_capacity(64);
                reply.push_value(&TraceResult::NotFound { run_id: params.run_id, not_found: true });
                return Ok(reply);
            }
            Err(other) => return Err(other),
        };
        if run.state.lock().corrupted {
            return Err(RunsError::Corrupt(run.id.to_string()));
        }
        let total = run.state.lock().records as usize;
        let cursor = params.cursor.unwrap_or(0);
        let start = usize::try_from(cursor).unwrap_or(usize::MAX).min(total);
        let end = limit.map_or(total, |n| start.saturating_add(n as usize).min(total));
        let unpaged = limit.is_none().then_some(("runs.get_trace", Paging::Limit));
        let mut reply = self.records_reply(&run, RECORDS_OPEN, start..end, unpaged).await?;
        // The rest of `TracePage`'s fields, absent ones left out as serde leaves them.
        push_ids(&mut reply, &run);
        reply.push_member("cursor", &cursor);
        if let Some(limit) = limit {
            reply.push_member("limit", &limit);
        }
        if end < total {
            reply.push_member("next_cursor", &end);
        }
        reply.push_json("}");
        Ok(reply)
    }

    /// A reply opening with `open` (an object's first member, up to its array) and
    /// records `range` of `run`, appended as they are read, a page at a time, straight
    /// from the store into the reply's text (`Written`): never held as records of their
    /// own, never copied into a reply afterwards. Served as stored: a record's payload
    /// is `RunRecord`'s wire form (see ARCHITECTURE.md), never re-parsed; checked to be
    /// JSON unless the store vouches for it (the local journal's CRC). With `unpaged`
    /// (the method, how to page), refused once past the unpaged bound, so a reply's
    /// memory stays bounded however long the run. The caller closes the object.
    async fn records_reply<T>(
        &self,
        run: &Run,
        open: &str,
        range: std::ops::Range<usize>,
        unpaged: Option<(&'static str, Paging)>,
    ) -> Result<Written<T>, RunsError> {
        const PAGE: usize = 256;
        // The envelope (ids, status, field names), as `fits_unpaged` counts it.
        const ENVELOPE: usize = 512;
        let (max, limit) = self.config.unpaged_reply_bound();
        let vouched = self.store.vouches_for_payloads();
        // Sized once from the store's index (framing makes it a little more than
        // the text), never past the bound: no copy of the text as it grows.
        let hint = self.store.stored_bytes(run.id, range.clone()).unwrap_or(0);
        let mut reply = Written::with_capacity(hint.min(max) + ENVELOPE);
        reply.push_json(open);
        let mut first = true;
        for start in range.clone().step_by(PAGE) {
            let mut append = |record: tether_store::RecordRef<'_>| {
                if let Some(json) = record_json(record.payload, run.id, vouched) {
                    if !std::mem::take(&mut first) {
                        reply.push_json(",");
                    }
                    reply.push_json(json);
                }
            };
            let page = start..(start + PAGE).min(range.end);
            self.store.read_each(run.id, page, &mut append).await.map_err(|e| corrupt_or(e, run.id))?;
            // Stopped here, not counted to the end: a snapshot is read under the run's
            // append lock, which a refused subscriber must not hold for a whole history.
            let bytes = reply.len() + 1 + ENVELOPE;
            if let Some((method, paging)) = unpaged.filter(|_| bytes > max) {
                return Err(RunsError::PageNeeded { method, paging, limit, max, bytes, page_max: TRACE_MAX });
            }
        }
        // Each element is a record's text as `record_json` let it through.
        reply.push_json("]");
        Ok(reply)
    }

    /// `runs.subscribe`'s reply up to its snapshot's end (records `from..to`, `from`
    /// clamped to `to`), refused past the unpaged bound: a client subscribes from a
    /// later cursor and reads what comes before it by page. `subscribed` finishes it.
    pub(crate) async fn read_snapshot(
        &self,
        run: &Run,
        from: u64,
        to: usize,
    ) -> Result<Written<SubscribeResult>, RunsError> {
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(to);
        self.records_reply(run, SNAPSHOT_OPEN, from..to, Some(("runs.subscribe", Paging::FromCursor))).await
    }

    /// A snapshot, then every later record as `runs.trace.event`, with no gap and no duplicate.
    /// The snapshot holds the records from `from_cursor` on, and is refused past the
    /// unpaged reply bound (`read_snapshot`).
    pub async fn subscribe(
        self: &Arc<Self>,
        caller: &Caller,
        params: SubscribeParams,
    ) -> Result<Written<SubscribeResult>, RunsError> {
        let (run_id, from) = (params.run_id.as_str(), params.from_cursor.unwrap_or(0));
        let run = match self.locate(run_id, Trust::Current) {
            Place::Here(run) if run.readable_by(caller.principal()) => run,
            // A run another node writes: followed through the store.
            Place::Elsewhere(_) => {
                let run = self.readable_anywhere(caller, run_id).await?;
                return self.follow_remote(caller, run, from).await;
            }
            Place::Here(_) | Place::Unknown => return Err(RunsError::UnknownRun(run_id.to_owned())),
        };
        let conn = caller.connection().id();
        let max = self.config.max_subscriptions;
        let full = self.with_conn(caller, |c| !c.subscriptions.contains(&run.id) && c.subscriptions.len() >= max);
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
            let snapshot = self.read_snapshot(&run, from, records).await?;
            let mut state = run.state.lock();
            state.subscribers.retain(|s| s.connection != conn);
            state.subscribers.push(Subscriber { connection: conn, events, lagged: lagged.clone() });
            (snapshot, records as u64, state.status)
        };
        self.with_conn(caller, |c| c.subscriptions.insert(run.id));
        let client = caller.client().clone();
        let run_id = run.id.to_string();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if client.notice::<TraceEventMessage>(&event, true).await.is_err() {
                    return;
                }
            }
            if lagged.load(Ordering::Acquire) {
                let _ = client.notice::<TraceLaggedMessage>(&TraceLagged { run_id }, false).await;
            }
        });
        Ok(subscribed(snapshot, &run, status, live_cursor))
    }

    pub fn unsubscribe(&self, caller: &Caller, run_id: &str) -> Result<Ack, RunsError> {
        // A run followed from another node is not indexed here: its follower stops
        // once the subscription is gone from the connection.
        let run = match self.locate(run_id, Trust::Indexed) {
            Place::Here(run) if run.readable_by(caller.principal()) => run,
            Place::Elsewhere(id) => {
                let was = self.with_conn(caller, |c| c.subscriptions.remove(&id));
                return Ok(Ack { run_id: run_id.to_owned(), ok: was });
            }
            Place::Here(_) | Place::Unknown => return Err(RunsError::UnknownRun(run_id.to_owned())),
        };
        let conn = caller.connection().id();
        run.state.lock().subscribers.retain(|s| s.connection != conn);
        let was = self.with_conn(caller, |c| c.subscriptions.remove(&run.id));
        Ok(Ack { run_id: run_id.to_owned(), ok: was })
    }
}

/// `runs.subscribe`'s reply finished after its snapshot (`Runs::read_snapshot`): the
/// rest of `SubscribeResult`'s fields.
pub(crate) fn subscribed(
    mut reply: Written<SubscribeResult>,
    run: &Run,
    status: RunStatus,
    live_cursor: u64,
) -> Written<SubscribeResult> {
    push_ids(&mut reply, run);
    reply.push_member("status", &status);
    reply.push_member("live_cursor", &live_cursor);
    reply.push_json("}");
    reply
}

/// The run's ids, members of both `TracePage` and `SubscribeResult`.
fn push_ids<T>(reply: &mut Written<T>, run: &Run) {
    reply.push_member("run_id", &run.id_text());
    reply.push_member("agent_id", &run.agent_id.as_str());
}

fn bounded(limit: Option<u32>, max: u32) -> Result<Option<u32>, RunsError> {
    match limit {
        Some(n) if !(1..=max).contains(&n) => Err(invalid("limit", format!("{n} is outside 1..={max}"))),
        limit => Ok(limit),
    }
}
