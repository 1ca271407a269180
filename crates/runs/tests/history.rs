//! Fork, replay, diff and budgets in process (no socket): `Caller`s built by hand,
//! a `Peer` double answering `tools.execute`, and a `BudgetGate` double the test
//! answers. The wire is proved in `tests/history_actions.rs`.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tether_core::{AgentId, BoxFuture, BuildParams, CallError, Caller, Closed, Connection, Peer, Principal};
use tether_proto::ErrorObject;
use tether_proto::runs::{DiffVerdict, TracePage};
use tether_proto::tools::ExecuteParams;
use tether_runs::{BudgetAsk, BudgetGate, BudgetVerdict, Runs, RunsConfig, RunsError};
use tether_store::{Journal, JournalOptions, RealFsync};

/// `double` doubles `n`; after `fixed` is set it answers 7 → 15 (the changed code).
struct Tools {
    fixed: AtomicBool,
}

impl Peer for Tools {
    fn call<'a>(
        &'a self,
        method: &'static str,
        build: BuildParams<'a>,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        let params: ExecuteParams = serde_json::from_str(&build.text("cb-1")).expect("tools.execute params");
        let n = params.parameters["n"].as_i64().unwrap_or(0);
        let answer = match params.tool.as_str() {
            "double" if n == 7 && self.fixed.load(Ordering::SeqCst) => Ok(json!({"total": 15, "n": n})),
            "double" => Ok(json!({"total": n * 2, "n": n})),
            "echo" => Ok(params.parameters.clone()),
            other => Err(ErrorObject::new(-1, format!("no tool {other}"))),
        };
        Box::pin(async move { answer.map_err(|error| CallError::Remote { method: method.into(), error }) })
    }

    fn notify<'a>(&'a self, _: &'static str, _: Box<RawValue>, _: bool) -> BoxFuture<'a, Result<(), Closed>> {
        Box::pin(async { Ok(()) })
    }
}

fn caller(id: u64, agent: &str) -> (Caller, Arc<Tools>) {
    let tools = Arc::new(Tools { fixed: AtomicBool::new(false) });
    let principal = Principal::Agent(AgentId::new(agent));
    (Caller::new(principal, Connection::new(id), tools.clone()), tools)
}

async fn open(dir: &tempfile::TempDir) -> Arc<Runs> {
    open_with(dir, RunsConfig::default()).await
}

async fn open_with(dir: &tempfile::TempDir, config: RunsConfig) -> Arc<Runs> {
    let (journal, recovered) =
        Journal::open(&dir.path().join("journal"), JournalOptions::default(), Arc::new(RealFsync)).unwrap();
    let events = tether_events::EventBus::new(Default::default());
    Runs::open(Arc::new(journal), recovered, config, events, Arc::new(tether_telemetry::Nobody)).await.unwrap()
}

fn params<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("params")
}

async fn register(runs: &Runs, caller: &Caller, names: &[&str]) {
    let tools: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    runs.register_tools(caller, params(json!(tools))).await.unwrap();
}

async fn submit(runs: &Runs, caller: &Caller, proposal: &str, ns: &[i64]) -> Vec<String> {
    let actions: Vec<Value> = ns
        .iter()
        .enumerate()
        .map(|(k, n)| json!({"id": format!("a{}", k + 1), "type": "tool_call", "tool": "double", "parameters": {"n": n}}))
        .collect();
    let result = runs.submit(caller, params(json!({"proposal": {"id": proposal, "actions": actions}}))).await.unwrap();
    result.results.iter().map(|r| serde_json::to_value(r.status).unwrap().as_str().unwrap().to_owned()).collect()
}

async fn turns(runs: &Runs, caller: &Caller, run_id: &str) -> Vec<Value> {
    let trace = runs.trace(caller, params(json!({"run_id": run_id}))).await.unwrap();
    let page: TracePage = serde_json::from_str(trace.as_json()).expect("the run's trace");
    page.records.iter().map(|r| serde_json::to_value(r).unwrap()).filter(|r| r["record"] == "turn").collect()
}

/// A run of three one-action proposals: n = 1, 7, 3.
async fn three_turns(runs: &Runs, caller: &Caller) -> String {
    register(runs, caller, &["double"]).await;
    let started = runs.start(caller, params(json!({"intent": "sum"}))).await.unwrap();
    for (p, n) in [("p1", 1), ("p2", 7), ("p3", 3)] {
        assert_eq!(submit(runs, caller, p, &[n]).await, ["succeeded"]);
    }
    started.run_id
}

#[tokio::test]
async fn a_fork_after_two_of_three_turns_inherits_exactly_those_then_runs_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir).await;
    let (bot, _) = caller(1, "bot");
    let source = three_turns(&runs, &bot).await;
    let before = turns(&runs, &bot, &source).await;

    let forked = runs.fork(&bot, params(json!({"run_id": source, "turns": 2}))).await.unwrap();
    assert_eq!(forked.forked_from.turns, 2);
    // The fork is the connection's current run: this proposal appends to it.
    assert_eq!(submit(&runs, &bot, "p9", &[5]).await, ["succeeded"]);
    let got = turns(&runs, &bot, &forked.run_id).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0]["inherited"], true);
    assert_eq!(got[1]["inherited"], true);
    assert_eq!(got[1]["output"], json!({"total": 14, "n": 7}));
    assert_eq!(got[2].get("inherited"), None);
    assert_eq!(got[2]["proposal_id"], "p9");
    assert_eq!(got[2]["index"], 2);
    assert_eq!(turns(&runs, &bot, &source).await, before, "the source is untouched");

    let detail = runs.get_run(&bot, params(json!({"run_id": forked.run_id}))).await.unwrap();
    assert_eq!(detail.forked_from.unwrap().run_id, source);
    assert_eq!(detail.usage.tool_calls, 1, "inherited turns are not the fork's tool calls");

    // Another agent cannot read the source, so cannot fork it (the same answer as unknown).
    let (eve, _) = caller(2, "eve");
    let refused = runs.fork(&eve, params(json!({"run_id": source}))).await.unwrap_err();
    assert!(matches!(refused, RunsError::UnknownRun(_)), "{refused}");
    let too_many = runs.fork(&bot, params(json!({"run_id": source, "turns": 4}))).await.unwrap_err();
    assert!(too_many.to_string().contains("more than the 3 turns"), "{too_many}");
}

#[tokio::test]
async fn a_replay_after_a_fix_reports_that_action_changed_and_the_others_same() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir).await;
    let (bot, tools) = caller(1, "bot");
    let source = three_turns(&runs, &bot).await;

    tools.fixed.store(true, Ordering::SeqCst);
    let replayed = runs.replay(&bot, params(json!({"run_id": source}))).await.unwrap();
    let diff = &replayed.diff;
    assert_eq!((diff.counts.same, diff.counts.changed, diff.counts.only_in_a, diff.counts.only_in_b), (2, 1, 0, 0));
    let changed = diff.pairs.iter().find(|p| p.verdict == DiffVerdict::Changed).unwrap();
    assert_eq!(changed.a_index, Some(1));
    assert_eq!(changed.changes.len(), 1);
    assert_eq!(changed.changes[0].path, "/output/total");
    assert_eq!((changed.changes[0].a.clone(), changed.changes[0].b.clone()), (Some(json!(14)), Some(json!(15))));
    let detail = runs.get_run(&bot, params(json!({"run_id": replayed.run_id}))).await.unwrap();
    assert_eq!(detail.replay_of.as_deref(), Some(source.as_str()));
    let replay_turns = turns(&runs, &bot, &replayed.run_id).await;
    assert_eq!(replay_turns[1]["action_id"], "a1", "each turn keeps the recorded action id");
    assert_eq!(replay_turns[1]["proposal_id"], "p2");

    // On a connection without the tool: every turn `rejected`, the replay not aborted.
    let (bare, _) = caller(3, "bot");
    let replayed = runs.replay(&bare, params(json!({"run_id": source}))).await.unwrap();
    assert_eq!(replayed.diff.counts.changed, 3);
    let replay_turns = turns(&runs, &bare, &replayed.run_id).await;
    assert!(replay_turns.iter().all(|t| t["status"] == "rejected"), "{replay_turns:?}");
    assert!(replay_turns[0]["error"].as_str().unwrap().contains("not registered"));
}

#[tokio::test]
async fn a_diff_of_a_run_with_itself_is_all_same_and_extra_turns_stand_alone() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir).await;
    let (bot, _) = caller(1, "bot");
    let a = three_turns(&runs, &bot).await;
    let same = runs.diff(&bot, params(json!({"run_id": a, "other_run_id": a}))).await.unwrap();
    assert_eq!(same.counts.same, 3);
    assert!(same.pairs.iter().all(|p| p.verdict == DiffVerdict::Same));

    // b: the same three proposals, plus a fourth with two actions.
    let b = three_turns(&runs, &bot).await;
    submit(&runs, &bot, "p4", &[2, 2]).await;
    let d = runs.diff(&bot, params(json!({"run_id": a, "other_run_id": b}))).await.unwrap();
    assert_eq!((d.counts.same, d.counts.only_in_b, d.counts.only_in_a), (3, 2, 0));
    let back = runs.diff(&bot, params(json!({"run_id": b, "other_run_id": a}))).await.unwrap();
    assert_eq!((back.counts.same, back.counts.only_in_a), (3, 2));
}

#[tokio::test]
async fn a_diff_past_the_reply_bound_keeps_every_verdict_and_drops_paths() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open_with(&dir, RunsConfig { max_unpaged_reply_bytes: 1_500, ..RunsConfig::default() }).await;
    let (bot, tools) = caller(1, "bot");
    register(&runs, &bot, &["double"]).await;
    let a = runs.start(&bot, params(json!({"intent": "a"}))).await.unwrap().run_id;
    submit(&runs, &bot, "p", &[7; 20]).await;
    tools.fixed.store(true, Ordering::SeqCst);
    let b = runs.start(&bot, params(json!({"intent": "b"}))).await.unwrap().run_id;
    submit(&runs, &bot, "p", &[7; 20]).await;
    let d = runs.diff(&bot, params(json!({"run_id": a, "other_run_id": b}))).await.unwrap();
    assert_eq!(d.counts.changed, 20);
    assert_eq!(d.pairs.len(), 20);
    assert!(d.truncated);
    assert!(!d.pairs[0].changes.is_empty() && d.pairs[19].changes.is_empty());
    assert!(serde_json::to_vec(&d).unwrap().len() < 2_500);
    drop(runs);

    // A run whose records pass `runs.max_history_bytes` is refused, naming the bound.
    let runs = open_with(&dir, RunsConfig { max_history_bytes: 1_000, ..RunsConfig::default() }).await;
    let refused = runs.diff(&bot, params(json!({"run_id": a, "other_run_id": b}))).await.unwrap_err();
    assert!(refused.to_string().contains("runs.max_history_bytes"), "{refused}");
    let refused = runs.fork(&bot, params(json!({"run_id": a}))).await.unwrap_err();
    assert!(refused.to_string().contains("runs.max_history_bytes"), "{refused}");
}

/// Answers budget approvals from a script: each ask pops the next verdict.
struct Script(Mutex<Vec<BudgetVerdict>>, Mutex<Vec<BudgetAsk>>);

impl BudgetGate for Script {
    fn ask(&self, ask: BudgetAsk) -> std::pin::Pin<Box<dyn std::future::Future<Output = BudgetVerdict> + Send + '_>> {
        self.1.lock().push(ask);
        let verdict = self.0.lock().remove(0);
        Box::pin(async move { verdict })
    }
}

#[tokio::test]
async fn a_budget_holds_the_third_call_a_raise_runs_it_and_a_denial_ends_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let runs = open(&dir).await;
    let script = Arc::new(Script(
        Mutex::new(vec![
            BudgetVerdict::Raise(Some(1.0)),
            BudgetVerdict::Deny { approval_id: Some("ap-2".into()), reason: Some("enough".into()) },
        ]),
        Mutex::default(),
    ));
    runs.set_budget_gate(script.clone());
    let (bot, _) = caller(1, "bot");
    register(&runs, &bot, &["double"]).await;
    let started = runs.start(&bot, params(json!({"intent": "b", "budget": {"max_tool_calls": 2}}))).await.unwrap();
    let usage = json!({"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.25});
    let submitted = json!({"proposal": {"id": "p1", "actions": [
        {"id": "a1", "type": "tool_call", "tool": "double", "parameters": {"n": 1}},
        {"id": "a2", "type": "tool_call", "tool": "double", "parameters": {"n": 2}},
        {"id": "a3", "type": "tool_call", "tool": "double", "parameters": {"n": 3}}
    ]}, "usage": usage});
    let result = runs.submit(&bot, params(submitted)).await.unwrap();
    let ok: Vec<_> = result.results.iter().map(|r| r.status).collect();
    assert_eq!(ok.len(), 3);
    assert!(result.results.iter().all(|r| r.error.is_none()), "the raise let the third run");
    {
        let asks = script.1.lock();
        assert_eq!(asks.len(), 1);
        assert_eq!(asks[0].breach.limit, "max_tool_calls");
        assert_eq!((asks[0].breach.max, asks[0].breach.used), (2.0, 3.0));
        assert_eq!(asks[0].run_id, started.run_id);
    }
    // Limit now 3: the fourth action breaches, the denial rejects it and the rest.
    let result = runs
        .submit(
            &bot,
            params(json!({"proposal": {"id": "p2", "actions": [
            {"id": "a1", "type": "tool_call", "tool": "double", "parameters": {"n": 4}},
            {"id": "a2", "type": "tool_call", "tool": "double", "parameters": {"n": 5}}
        ]}, "usage": {"input_tokens": 1, "output_tokens": 1, "cost_usd": 0.5}})),
        )
        .await
        .unwrap();
    for r in &result.results {
        assert_eq!(serde_json::to_value(r.status).unwrap(), "rejected");
        let error = r.error.as_deref().unwrap();
        assert!(error.contains("budget max_tool_calls = 3") && error.contains("ap-2"), "{error}");
    }
    let detail = runs.get_run(&bot, params(json!({"run_id": started.run_id}))).await.unwrap();
    assert_eq!(serde_json::to_value(detail.summary.status).unwrap(), "budget_exceeded");
    assert_eq!(detail.usage.tool_calls, 3);
    assert_eq!((detail.usage.input_tokens, detail.usage.output_tokens), (101, 21));
    assert!((detail.usage.cost_usd - 0.75).abs() < 1e-9);
    assert_eq!(detail.budget.unwrap().max_tool_calls, Some(3));
    assert_eq!(detail.budget_exceeded.unwrap().limit, "max_tool_calls");
    // Hostile numbers are refused, naming the field and bound.
    let bad = runs.start(&bot, params(json!({"intent": "b", "budget": {"max_cost_usd": -1.0}}))).await.unwrap_err();
    assert!(bad.to_string().contains("budget.max_cost_usd"), "{bad}");

    // After a restart: the budget as raised, the usage as summed, the status kept.
    drop(runs);
    let runs = open(&dir).await;
    let detail = runs.get_run(&bot, params(json!({"run_id": started.run_id}))).await.unwrap();
    assert_eq!(serde_json::to_value(detail.summary.status).unwrap(), "budget_exceeded");
    assert_eq!(detail.usage.tool_calls, 3);
    assert_eq!(detail.budget.unwrap().max_tool_calls, Some(3));
}
