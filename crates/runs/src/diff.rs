//! `runs.diff`: two runs' turns paired and compared. Pairing is by action id, the
//! n-th turn of an id in one run with the n-th of that id in the other (ids repeat
//! across proposals: `a1` in each), which is position within an id; a turn with no
//! partner is `only_in_a` or `only_in_b`. A pair compares what the turn *did* (tool,
//! parameters, status, output, error), never when or how long: a replay that gives the
//! same answers is `same`. The comparison is pure, so it is tested without a store.

use std::collections::HashMap;

use serde_json::{Value, json};
use tether_core::Caller;
use tether_proto::runs::{DiffChange, DiffCounts, DiffPair, DiffParams, DiffResult, DiffVerdict, RunRecord, Turn};

use crate::error::RunsError;
use crate::records::parse_record;
use crate::run::Run;
use crate::runs::Runs;

/// How much of a diff is shown.
#[derive(Debug, Clone, Copy)]
pub struct DiffBounds {
    /// Paths listed per changed pair.
    pub max_paths: usize,
    /// Bytes of a value shown on either side (head and tail kept).
    pub max_value_bytes: usize,
}

/// What of a turn is compared.
fn compared(turn: &Turn) -> Value {
    json!({
        "tool": turn.tool,
        "parameters": turn.parameters,
        "status": turn.status,
        "output": turn.output,
        "error": turn.error,
    })
}

/// Pairs and compares `a`'s turns with `b`'s (see the module doc).
pub fn diff_turns(a: &[Turn], b: &[Turn], bounds: DiffBounds) -> (Vec<DiffPair>, DiffCounts, bool) {
    // Each of b's action ids → its turns' positions, oldest first.
    let mut in_b: HashMap<&str, std::collections::VecDeque<usize>> = HashMap::new();
    for (n, turn) in b.iter().enumerate() {
        in_b.entry(turn.action_id.as_str()).or_default().push_back(n);
    }
    let mut partner_of_b: Vec<Option<usize>> = vec![None; b.len()];
    let mut partner_of_a: Vec<Option<usize>> = vec![None; a.len()];
    for (n, turn) in a.iter().enumerate() {
        if let Some(m) = in_b.get_mut(turn.action_id.as_str()).and_then(|q| q.pop_front()) {
            partner_of_a[n] = Some(m);
            partner_of_b[m] = Some(n);
        }
    }
    let mut pairs = Vec::with_capacity(a.len().max(b.len()));
    let mut counts = DiffCounts::default();
    let mut truncated = false;
    // b's unpaired turns go right after the pair that precedes them in b.
    let mut b_next = 0;
    let flush_b = |upto: usize, pairs: &mut Vec<DiffPair>, counts: &mut DiffCounts, b_next: &mut usize| {
        while *b_next < upto {
            if partner_of_b[*b_next].is_none() {
                let turn = &b[*b_next];
                counts.only_in_b += 1;
                pairs.push(alone(DiffVerdict::OnlyInB, turn, None, Some(turn.index)));
            }
            *b_next += 1;
        }
    };
    for (n, turn) in a.iter().enumerate() {
        match partner_of_a[n] {
            None => {
                counts.only_in_a += 1;
                pairs.push(alone(DiffVerdict::OnlyInA, turn, Some(turn.index), None));
            }
            Some(m) => {
                flush_b(m, &mut pairs, &mut counts, &mut b_next);
                let other = &b[m];
                let mut changes = Vec::new();
                let mut more = false;
                compare("", &compared(turn), &compared(other), &mut changes, &mut more, bounds);
                truncated |= more;
                let verdict = if changes.is_empty() { DiffVerdict::Same } else { DiffVerdict::Changed };
                match verdict {
                    DiffVerdict::Same => counts.same += 1,
                    _ => counts.changed += 1,
                }
                pairs.push(DiffPair {
                    verdict,
                    action_id: turn.action_id.clone(),
                    tool: turn.tool.clone(),
                    a_index: Some(turn.index),
                    b_index: Some(other.index),
                    changes,
                });
                b_next = b_next.max(m + 1);
            }
        }
    }
    flush_b(b.len(), &mut pairs, &mut counts, &mut b_next);
    (pairs, counts, truncated)
}

fn alone(verdict: DiffVerdict, turn: &Turn, a_index: Option<u32>, b_index: Option<u32>) -> DiffPair {
    DiffPair { verdict, action_id: turn.action_id.clone(), tool: turn.tool.clone(), a_index, b_index, changes: vec![] }
}

/// Records each path where `a` and `b` differ: objects by key, arrays by position;
/// anything else (or a change of type) is a leaf.
fn compare(path: &str, a: &Value, b: &Value, out: &mut Vec<DiffChange>, more: &mut bool, bounds: DiffBounds) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let child = format!("{path}/{}", escape(key));
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => compare(&child, p, q, out, more, bounds),
                    (p, q) => push(&child, p, q, out, more, bounds),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for n in 0..x.len().max(y.len()) {
                let child = format!("{path}/{n}");
                match (x.get(n), y.get(n)) {
                    (Some(p), Some(q)) => compare(&child, p, q, out, more, bounds),
                    (p, q) => push(&child, p, q, out, more, bounds),
                }
            }
        }
        _ => push(path, Some(a), Some(b), out, more, bounds),
    }
}

fn push(
    path: &str,
    a: Option<&Value>,
    b: Option<&Value>,
    out: &mut Vec<DiffChange>,
    more: &mut bool,
    bounds: DiffBounds,
) {
    if out.len() >= bounds.max_paths {
        *more = true;
        return;
    }
    let shown = |v: Option<&Value>| {
        v.filter(|v| !v.is_null()).map(|v| {
            let mut v = v.clone();
            tether_core::trim::head_and_tail(&mut v, bounds.max_value_bytes);
            v
        })
    };
    out.push(DiffChange { path: path.to_owned(), a: shown(a), b: shown(b) });
}

/// RFC 6901: `~` → `~0`, `/` → `~1`.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Runs {
    /// `runs.diff`: both runs must be readable by the caller.
    pub async fn diff(&self, caller: &Caller, params: DiffParams) -> Result<DiffResult, RunsError> {
        let a = self.readable_anywhere(caller, &params.run_id).await?;
        let b = self.readable_anywhere(caller, &params.other_run_id).await?;
        let a_turns = self.turns_of(&a, None).await?;
        let b_turns = self.turns_of(&b, None).await?;
        Ok(self.diff_of(&a, &a_turns, &b, &b_turns))
    }

    pub(crate) fn diff_of(&self, a: &Run, a_turns: &[Turn], b: &Run, b_turns: &[Turn]) -> DiffResult {
        let bounds = DiffBounds {
            max_paths: self.config.max_diff_paths.max(1),
            max_value_bytes: self.config.max_diff_value_bytes,
        };
        let (mut pairs, counts, mut truncated) = diff_turns(a_turns, b_turns, bounds);
        // The reply stays under the unpaged bound: past it, changed pairs keep their
        // verdict but lose their paths (`truncated`); the counts are always whole.
        let (max, _) = self.config.unpaged_reply_bound();
        let mut size = 512;
        for pair in &mut pairs {
            size += crate::tools::json_len(&*pair);
            if size > max && !pair.changes.is_empty() {
                size -= crate::tools::json_len(&pair.changes);
                pair.changes.clear();
                truncated = true;
            }
        }
        DiffResult { run_id: a.id.to_string(), other_run_id: b.id.to_string(), pairs, counts, truncated }
    }

    /// A run's first `upto` turns (all: `None`), oldest first; refused past `runs.max_diff_turns`.
    pub(crate) async fn turns_of(&self, run: &Run, upto: Option<u32>) -> Result<Vec<Turn>, RunsError> {
        let (records, turns, corrupted) = {
            let state = run.state.lock();
            (state.records as usize, state.turns, state.corrupted)
        };
        if corrupted {
            return Err(RunsError::Corrupt(run.id.to_string()));
        }
        let wanted = upto.map_or(turns, |n| n.min(turns)) as usize;
        let max = self.config.max_diff_turns;
        if wanted > max {
            return Err(RunsError::Limit {
                what: "the run has more turns than a diff reads",
                limit: "runs.max_diff_turns",
                value: max,
            });
        }
        // Read a page at a time, so a run of large turns is refused at the byte bound
        // before it is all in memory.
        let mut out = Vec::with_capacity(wanted);
        let (max_bytes, mut bytes, mut at) = (self.config.max_history_bytes, 0usize, 0usize);
        while out.len() < wanted && at < records {
            let end = (at + 500).min(records);
            let stored = self.store.read(run.id, at..end).await.map_err(|e| crate::records::corrupt_or(e, run.id))?;
            at = end;
            for record in stored {
                if out.len() == wanted {
                    break;
                }
                bytes += record.payload.len();
                if bytes > max_bytes {
                    let what = "the run's turns are larger than one diff, replay or fork reads";
                    return Err(RunsError::Limit { what, limit: "runs.max_history_bytes", value: max_bytes });
                }
                if let Some(RunRecord::Turn(turn)) = parse_record::<RunRecord>(&record.payload, run.id) {
                    out.push(turn);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
fn turn_for_tests(index: u32, action_id: &str, tool: &str, output: Value) -> Turn {
    Turn {
        index,
        proposal_id: "p".into(),
        action_id: action_id.into(),
        tool: tool.into(),
        parameters: json!({}),
        prompt: None,
        output: Some(output),
        error: None,
        status: tether_proto::proposal::ActionStatus::Succeeded,
        duration_ms: 0,
        attempts: 1,
        recorded_at: String::new(),
        redelivered: false,
        inherited: false,
        usage: None,
        budget: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    const BOUNDS: DiffBounds = DiffBounds { max_paths: 16, max_value_bytes: 64 };

    #[test]
    fn a_run_against_itself_is_all_same() {
        let a = vec![turn_for_tests(0, "a1", "t", json!(1)), turn_for_tests(1, "a1", "t", json!(2))];
        let (pairs, counts, _) = diff_turns(&a, &a, BOUNDS);
        assert_eq!(counts, DiffCounts { same: 2, ..Default::default() });
        assert!(pairs.iter().all(|p| p.verdict == DiffVerdict::Same));
    }

    #[test]
    fn a_changed_output_names_its_path_and_extra_turns_stand_alone() {
        let a = vec![
            turn_for_tests(0, "a1", "t", json!({"total": 3, "items": [1, 2]})),
            turn_for_tests(1, "a2", "t", json!(0)),
        ];
        let b = vec![
            turn_for_tests(0, "a1", "t", json!({"total": 4, "items": [1, 2]})),
            turn_for_tests(1, "b9", "t", json!(0)),
        ];
        let (pairs, counts, _) = diff_turns(&a, &b, BOUNDS);
        assert_eq!(counts, DiffCounts { same: 0, changed: 1, only_in_a: 1, only_in_b: 1 });
        assert_eq!(
            pairs[0].changes,
            vec![DiffChange { path: "/output/total".into(), a: Some(json!(3)), b: Some(json!(4)) }]
        );
        let verdicts: Vec<_> = pairs.iter().map(|p| p.verdict).collect();
        assert_eq!(verdicts, [DiffVerdict::Changed, DiffVerdict::OnlyInA, DiffVerdict::OnlyInB]);
    }

    #[test]
    fn paths_are_bounded_and_values_trimmed() {
        let many: Map<String, Value> = (0..40).map(|n| (format!("k/{n}"), json!(n))).collect();
        let a = vec![turn_for_tests(0, "a1", "t", Value::Object(many))];
        let b = vec![turn_for_tests(0, "a1", "t", json!("x".repeat(1000)))];
        let (pairs, _, truncated) = diff_turns(&a, &b, BOUNDS);
        assert!(!truncated, "a change of type is one path");
        assert_eq!(pairs[0].changes.len(), 1);
        assert!(pairs[0].changes[0].b.as_ref().unwrap()["elided"].is_string());
        let c = vec![turn_for_tests(0, "a1", "t", json!({}))];
        let (pairs, _, truncated) = diff_turns(&a, &c, BOUNDS);
        assert!(truncated);
        assert_eq!(pairs[0].changes.len(), 16);
        assert!(pairs[0].changes.iter().any(|c| c.path.starts_with("/output/k~1")));
    }
}
