//! The tools: each one wire method, its schemas from the method's `proto` types.

use rmcp::model::{JsonObject, ToolAnnotations};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};
use tether_proto::{Method, events, hooks, runs, sessions};

/// What calling a tool does to the world, for the annotations an MCP client shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Reads,
    /// Changes something, nothing that cannot be had again.
    Writes,
    /// Ends something (a run, a process).
    Ends,
}

pub(crate) struct ToolSpec {
    pub(crate) name: &'static str,
    pub(crate) method: &'static str,
    pub(crate) description: &'static str,
    pub(crate) effect: Effect,
    pub(crate) idempotent: bool,
    /// Input and output schemas (the output wrapped as `{"result": …}` when the
    /// method's result is not an object: MCP wants an object).
    pub(crate) schemas: fn() -> (JsonObject, JsonObject, bool),
    /// The tool's arguments as the method's params.
    pub(crate) params: fn(JsonObject) -> Value,
    /// Listed and callable only for an identity that may call the method (the
    /// operator's): an agent must never see a tool that opens its own gate.
    pub(crate) operator: bool,
}

impl ToolSpec {
    pub(crate) fn annotations(&self) -> ToolAnnotations {
        ToolAnnotations::new()
            .read_only(self.effect == Effect::Reads)
            .destructive(self.effect == Effect::Ends)
            .idempotent(self.idempotent)
            .open_world(false)
    }
}

fn schema_of<T: JsonSchema>() -> JsonObject {
    let schema = SchemaSettings::draft2020_12().into_generator().into_root_schema_for::<T>();
    match serde_json::to_value(schema) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    }
}

/// `(input, output, wrapped)` for a method `M`.
fn method_schemas<M: Method>() -> (JsonObject, JsonObject, bool) {
    with_output::<M::Params, M::Result>()
}

fn with_output<P: JsonSchema, R: JsonSchema>() -> (JsonObject, JsonObject, bool) {
    let mut input = schema_of::<P>();
    if input.get("type") != Some(&json!("object")) {
        // A method without params (`NoParams` is an object already; this is a fallback).
        input = json!({"type": "object"}).as_object().cloned().unwrap_or_default();
    }
    let mut output = schema_of::<R>();
    if output.get("type") != Some(&json!("object")) && alternatives_are_objects(&output) {
        // An untagged enum of objects (`TraceResult`): an object either way.
        output.insert("type".into(), json!("object"));
    }
    if output.get("type") == Some(&json!("object")) {
        return (input, output, false);
    }
    let mut inner = output;
    let defs = inner.remove("$defs");
    inner.remove("$schema");
    let mut wrapped = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"result": inner},
        "required": ["result"],
    });
    if let Some(defs) = defs {
        wrapped["$defs"] = defs;
    }
    (input, wrapped.as_object().cloned().unwrap_or_default(), true)
}

/// Whether every `anyOf`/`oneOf` branch of `schema` is an object (directly or by `$ref`).
fn alternatives_are_objects(schema: &JsonObject) -> bool {
    let Some(Value::Array(branches)) = schema.get("anyOf").or_else(|| schema.get("oneOf")) else { return false };
    let defs = schema.get("$defs");
    !branches.is_empty()
        && branches.iter().all(|branch| {
            let resolved = match branch.get("$ref").and_then(Value::as_str) {
                Some(reference) => reference.strip_prefix("#/$defs/").and_then(|name| defs?.get(name)),
                None => Some(branch),
            };
            resolved.is_some_and(|b| b.get("type") == Some(&json!("object")))
        })
}

fn as_is(arguments: JsonObject) -> Value {
    Value::Object(arguments)
}

/// `run_get` is `runs.get_trace` for the run and its first record only.
fn first_page(mut arguments: JsonObject) -> Value {
    arguments.insert("limit".into(), json!(1));
    Value::Object(arguments)
}

macro_rules! tool {
    ($name:literal, $method:ty, $effect:ident, $idempotent:literal, $description:literal) => {
        ToolSpec {
            name: $name,
            method: <$method as Method>::NAME,
            description: $description,
            effect: Effect::$effect,
            idempotent: $idempotent,
            schemas: method_schemas::<$method>,
            params: as_is,
            operator: false,
        }
    };
}

pub(crate) static TOOLS: &[ToolSpec] = &[
    tool!(
        "runs_list",
        runs::List,
        Reads,
        true,
        "List runs, newest first, a page at a time (`limit`, then `cursor`: the page's `next_cursor`)."
    ),
    ToolSpec {
        name: "run_get",
        method: <runs::GetTrace as Method>::NAME,
        description: "One run: its status, intent and agent, with its first record.",
        effect: Effect::Reads,
        idempotent: true,
        schemas: with_output::<runs::RunRef, <runs::GetTrace as Method>::Result>,
        params: first_page,
        operator: false,
    },
    tool!(
        "run_trace",
        runs::GetTrace,
        Reads,
        true,
        "A run's records, oldest first, a page at a time (`limit`, then `cursor`)."
    ),
    tool!("run_start", runs::Start, Writes, false, "Start a run owned by this connection."),
    tool!("run_cancel", runs::Cancel, Ends, true, "End a run as cancelled."),
    tool!("sessions_list", sessions::List, Reads, true, "Managed sessions (agent processes), optionally by state."),
    tool!("session_get", sessions::Get, Reads, true, "One managed session, with the runs its harness started."),
    tool!(
        "session_spawn",
        sessions::Spawn,
        Writes,
        false,
        "Start a managed session: a command or Claude Code, in a directory or a worktree of a repository."
    ),
    tool!("session_send", sessions::Send, Writes, false, "Write a line to a session's stdin."),
    tool!("session_stop", sessions::Stop, Ends, true, "Stop a session's process (SIGTERM, SIGKILL after the grace)."),
    tool!(
        "approvals_list",
        hooks::ApprovalsList,
        Reads,
        true,
        "Approvals (tool calls waiting for a human), optionally by state."
    ),
    tool!(
        "approval_request",
        hooks::ApprovalsRequest,
        Writes,
        false,
        "Ask your human a question and wait for the answer: allowed or denied (or pending if the wait ended first)."
    ),
    tool!(
        "breakers_status",
        hooks::BreakersStatus,
        Reads,
        true,
        "Circuit breakers per agent: closed, open or half-open, with their failure counts."
    ),
    tool!(
        "policy_check",
        hooks::PolicyCheck,
        Reads,
        true,
        "What the policy would answer a tool call (allow, deny, ask or none, with the rule), recording nothing: ask before you act."
    ),
    tool!(
        "events_recent",
        events::Recent,
        Reads,
        true,
        "The most recent events (runs, sessions, hooks, approvals), oldest first."
    ),
    tool!(
        "agent_delegate",
        hooks::Delegate,
        Writes,
        false,
        "Record a delegation of a task to another agent; refused while that agent's breaker is open."
    ),
    tool!(
        "memory_report",
        hooks::MemoryReport,
        Writes,
        true,
        "Report this session's context use; answers with its memory pressure."
    ),
    // The operator's only: the agent that asked must never answer its own question.
    ToolSpec {
        name: "approval_resolve",
        method: <hooks::ApprovalsResolve as Method>::NAME,
        description: "Allow or deny a pending approval (the operator's tool: agents never see it).",
        effect: Effect::Ends,
        idempotent: false,
        schemas: method_schemas::<hooks::ApprovalsResolve>,
        params: as_is,
        operator: true,
    },
];

/// Every tool any identity sees, in the order `tools/list` gives them.
pub const TOOL_NAMES: [&str; 17] = [
    "runs_list",
    "run_get",
    "run_trace",
    "run_start",
    "run_cancel",
    "sessions_list",
    "session_get",
    "session_spawn",
    "session_send",
    "session_stop",
    "approvals_list",
    "approval_request",
    "breakers_status",
    "policy_check",
    "events_recent",
    "agent_delegate",
    "memory_report",
];

/// The tools only an operator identity lists (after [`TOOL_NAMES`]).
pub const OPERATOR_TOOL_NAMES: [&str; 1] = ["approval_resolve"];

pub(crate) fn find(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|tool| tool.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_the_table() {
        let names: Vec<&str> = TOOLS.iter().filter(|t| !t.operator).map(|t| t.name).collect();
        assert_eq!(names, TOOL_NAMES);
        let operator: Vec<&str> = TOOLS.iter().filter(|t| t.operator).map(|t| t.name).collect();
        assert_eq!(operator, OPERATOR_TOOL_NAMES);
        assert!(TOOLS.iter().take(TOOL_NAMES.len()).all(|t| !t.operator), "the operator's tools come last");
    }

    #[test]
    fn every_schema_is_an_object_and_non_objects_are_wrapped() {
        for tool in TOOLS {
            let (input, output, _) = (tool.schemas)();
            assert_eq!(input.get("type"), Some(&json!("object")), "{} input", tool.name);
            assert_eq!(output.get("type"), Some(&json!("object")), "{} output", tool.name);
        }
        let (_, output, wrapped) = (find("sessions_list").unwrap().schemas)();
        assert!(wrapped);
        assert_eq!(output["properties"]["result"]["type"], "array");
        assert!(!(find("runs_list").unwrap().schemas)().2);
        assert!(!(find("run_trace").unwrap().schemas)().2, "an untagged enum of objects is an object");
    }

    #[test]
    fn annotations_say_what_a_tool_does() {
        let list = find("runs_list").unwrap().annotations();
        assert_eq!((list.read_only_hint, list.destructive_hint), (Some(true), Some(false)));
        let stop = find("session_stop").unwrap().annotations();
        assert_eq!((stop.read_only_hint, stop.destructive_hint), (Some(false), Some(true)));
    }
}
