//! `proposal.submit`: a list of actions run in order through `tools.execute`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SubmitParams {
    pub proposal: Proposal,
    /// What the model call that produced this proposal cost: summed on the run, and
    /// checked against its budget before the proposal's actions run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::runs::Usage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Proposal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Action {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Only `tool_call` is supported; anything else is rejected per action.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default)]
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_behavior: Option<FailureBehavior>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureBehavior {
    /// Stop: the remaining actions are skipped.
    #[default]
    Abort,
    /// Try again, up to `max_retries` more times.
    Retry,
    /// Go on with the next action.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    Succeeded,
    Failed,
    Rejected,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ActionResult {
    pub action_id: String,
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SubmitResult {
    pub proposal_id: String,
    pub results: Vec<ActionResult>,
}

/// [`SubmitResult`] as the daemon writes it ahead of its handler's return: the results
/// so far and the last one, borrowed (its JSON is `SubmitResult`'s, tested).
#[derive(Debug, Serialize)]
pub struct SubmitResultRef<'a> {
    pub proposal_id: &'a str,
    pub results: ResultsRef<'a>,
}

impl crate::Writes<SubmitResult> for SubmitResultRef<'_> {}

/// The results of a proposal's actions: those before the last, then the last.
#[derive(Debug)]
pub struct ResultsRef<'a> {
    pub before: &'a [ActionResult],
    pub last: ActionResultRef<'a>,
}

impl Serialize for ResultsRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.before.len() + 1))?;
        for result in self.before {
            seq.serialize_element(result)?;
        }
        seq.serialize_element(&self.last)?;
        seq.end()
    }
}

/// [`ActionResult`], borrowed.
#[derive(Debug, Serialize)]
pub struct ActionResultRef<'a> {
    pub action_id: &'a str,
    pub status: ActionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

crate::method!(
    Submit, "proposal.submit", SubmitParams => SubmitResult,
    "Run a proposal's actions in order, calling tools.execute on this connection; each becomes a durable turn of the current run."
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The borrowed form is the wire's `SubmitResult`, field for field and in order.
    #[test]
    fn submit_result_ref_writes_what_submit_result_writes() {
        let failed = ActionResult {
            action_id: "a1".into(),
            status: ActionStatus::Failed,
            output: None,
            error: Some("no \"such\" file".into()),
            duration_ms: Some(3),
        };
        let output = json!({"text": "ok", "n": [1, 2]});
        for before in [vec![], vec![failed]] {
            for (output, error, duration_ms) in [(Some(&output), None, Some(7)), (None, Some("boom"), None)] {
                let borrowed = SubmitResultRef {
                    proposal_id: "p-1",
                    results: ResultsRef {
                        before: &before,
                        last: ActionResultRef {
                            action_id: "a2",
                            status: ActionStatus::Succeeded,
                            output,
                            error,
                            duration_ms,
                        },
                    },
                };
                let mut results = before.clone();
                results.push(ActionResult {
                    action_id: "a2".into(),
                    status: ActionStatus::Succeeded,
                    output: output.cloned(),
                    error: error.map(str::to_owned),
                    duration_ms,
                });
                let owned = SubmitResult { proposal_id: "p-1".into(), results };
                assert_eq!(serde_json::to_string(&borrowed).unwrap(), serde_json::to_string(&owned).unwrap());
            }
        }
    }
}
