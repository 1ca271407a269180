//! Run records as stored: written as `RunRecord`'s wire form, served as stored
//! JSON, decoded where the domain needs their facts, and a run rebuilt from them.

use tether_core::{AgentId, stamp};
use tether_proto::runs::{Ended, RunRecord, Started};
use tether_telemetry::{RunTrace, TraceParent};
use ulid::Ulid;

use crate::error::RunsError;
use crate::reattach;
use crate::run::{Run, RunState};

pub(crate) fn to_json(record: &RunRecord) -> Vec<u8> {
    // Room for a usual turn up front: growing from empty reallocated it three times.
    let mut json = Vec::with_capacity(512);
    serde_json::to_writer(&mut json, record).expect("run records always serialize");
    json
}

/// A run as its records left it (at open, or read from a shared store), and
/// whether it was left open (no `ended` record, none lost). Such a run reads as
/// in progress with no owner here.
pub(crate) fn rebuild(found: tether_store::RecoveredRun, key: u64) -> (Run, bool) {
    let started: Option<Started> = found.started.as_deref().and_then(|p| parse_record(p, found.run_id));
    let ended: Option<Ended> = found.ended.as_deref().and_then(|p| parse_record(p, found.run_id));
    // A run that lost its `started` record may still name its agent in `ended`.
    let agent_id = started.as_ref().map(|s| s.agent_id.as_str()).or(ended.as_ref().map(|e| e.agent_id.as_str()));
    let agent_id = AgentId::new(agent_id.unwrap_or("unknown"));
    let mut state = RunState::in_progress(None);
    state.records = found.records;
    state.turns = found.turns;
    state.bytes = found.bytes;
    state.corrupted = found.corrupted;
    if let Some(started) = &started {
        state.forked_from = started.forked_from.clone();
        state.replay_of = started.replay_of.clone();
        state.budget = started.budget.clone();
    }
    // Summed from the turns when first asked for (`Runs::usage_of`).
    state.usage = None;
    if let Some(ended) = &ended {
        state.status = ended.termination.status();
        if let tether_proto::runs::Termination::Outcome { budget_exceeded, .. } = &ended.termination {
            state.breach = budget_exceeded.clone();
        }
        state.ended_at = Some(ended.ended_at.clone());
    }
    let token = started.as_ref().and_then(|s| s.resume_token_sha256.as_deref()).and_then(reattach::parse_hash);
    let (intent, started_at) = match &started {
        Some(s) => (s.intent.clone(), s.started_at.clone()),
        None => (String::new(), stamp::of_ulid(found.run_id)),
    };
    let left_open = ended.is_none() && !found.corrupted;
    if left_open && started.as_ref().is_some_and(|s| s.reattachable) && token.is_some() {
        state.reattachable = true;
        state.token = token;
    }
    let caller = started.as_ref().and_then(|s| s.traceparent.as_deref()).and_then(|t| TraceParent::parse(t).ok());
    let tracestate = started.and_then(|s| s.tracestate);
    let trace = RunTrace::new(found.run_id, caller, tracestate);
    (Run::new(found.run_id, key, agent_id, intent, started_at, trace, state), left_open)
}

/// A read that failed: a local store's bad record flags the run corrupt; anything
/// else (a database away, a fenced run) is the store's own error.
pub(crate) fn corrupt_or(error: tether_store::StoreError, run_id: Ulid) -> RunsError {
    match error {
        tether_store::StoreError::Corrupt { .. } => RunsError::Corrupt(run_id.to_string()),
        other => RunsError::Store(other),
    }
}

/// A stored payload as the JSON text it is; `None` (and a warning) when it is not
/// JSON. A store that vouches for its payloads (`RunStore::vouches_for_payloads`)
/// is taken at its word; any other's are checked to be one JSON value.
pub(crate) fn record_json(payload: &[u8], run_id: Ulid, vouched: bool) -> Option<&str> {
    let text = std::str::from_utf8(payload).map_err(|e| e.to_string());
    judged(text.and_then(|text| is_json(text, vouched).map(|()| text)), run_id)
}

fn is_json(text: &str, vouched: bool) -> Result<(), String> {
    if !vouched {
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn judged<T>(checked: Result<T, String>, run_id: Ulid) -> Option<T> {
    checked.inspect_err(|error| tracing::warn!(%error, run = %run_id, "skipping a run record that is not JSON")).ok()
}

/// Decodes a journalled record; one this version does not know is skipped with a warning.
pub(crate) fn parse_record<T: serde::de::DeserializeOwned>(payload: &[u8], run_id: Ulid) -> Option<T> {
    match serde_json::from_slice(payload) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(%error, run = %run_id, "skipping a run record this version cannot read");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vouched_payload_is_served_unchecked_and_any_other_only_if_it_is_json() {
        let run = Ulid::new();
        assert_eq!(record_json(b"{\"a\":1}", run, false), Some("{\"a\":1}"));
        assert_eq!(record_json(b"{\"a\":", run, false), None, "checked: not JSON");
        assert_eq!(record_json(b"{\"a\":", run, true), Some("{\"a\":"), "vouched for: taken at its word");
        assert_eq!(record_json(b"\xff", run, true), None, "never text that is not UTF-8");
    }
}
