//! The tools one connection registered, with their compiled parameter schemas.
//!
//! Compiling a schema costs far more memory than its text: every `pattern` becomes a
//! regex program (tens of KiB each), so 256 tools with 100 patterns each (a 1.7 MiB
//! message) once took 710 MiB per connection. So a definition is measured before it
//! is compiled ([`Cost`]) and refused past its own bounds or its connection's budget,
//! and each regex is built under a size limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tether_core::{Caller, NameKind, NameLimits};
use tether_proto::tools::ToolDefinition;

use crate::config::RunsConfig;
use crate::error::RunsError;

/// What one definition costs, measured on its JSON before anything is compiled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cost {
    /// Bytes of its description and parameters schema as JSON.
    pub(crate) bytes: usize,
    /// Regexes its schema compiles: `pattern` strings and `patternProperties` keys.
    pub(crate) patterns: usize,
}

impl Cost {
    fn of(definition: &ToolDefinition, max_pattern: usize) -> Result<Cost, Bound> {
        let mut cost = Cost { bytes: definition.description.as_ref().map_or(0, String::len), patterns: 0 };
        if let Some(schema) = &definition.parameters {
            cost.bytes += json_len(schema);
            walk(schema, max_pattern, &mut cost.patterns)?;
        }
        Ok(cost)
    }
}

/// A bound a definition went past: which one, its value, and what was asked.
#[derive(Debug, PartialEq)]
pub(crate) struct Bound {
    pub(crate) what: &'static str,
    pub(crate) limit: &'static str,
    pub(crate) max: usize,
    pub(crate) value: usize,
}

/// Every schema keyword that compiles a regex when the validator is built. (`format:
/// regex` compiles the *instance* at validation, under the same engine limits, and
/// keeps nothing.) A `pattern` key whose value is a string is counted wherever it sits,
/// even inside `const` or `default`: over-counting costs a client a slot, under-counting
/// would cost the daemon memory.
fn walk(value: &Value, max_pattern: usize, patterns: &mut usize) -> Result<(), Bound> {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("pattern", Value::String(source)) => count(source, max_pattern, patterns)?,
                    ("patternProperties", Value::Object(properties)) => {
                        for source in properties.keys() {
                            count(source, max_pattern, patterns)?;
                        }
                    }
                    _ => {}
                }
                walk(child, max_pattern, patterns)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, max_pattern, patterns)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn count(source: &str, max_pattern: usize, patterns: &mut usize) -> Result<(), Bound> {
    *patterns += 1;
    if source.len() > max_pattern {
        let what = "a regex is too long";
        return Err(Bound { what, limit: "runs.max_pattern_bytes", max: max_pattern, value: source.len() });
    }
    Ok(())
}

/// The length of `value` as compact JSON, without building the text.
pub(crate) fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Serialising into a counter fails only for a type serde_json cannot write (none here).
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// The bounds `tools.register` applies, from `[runs]` and `[limits.names]`.
#[derive(Debug, Clone)]
pub(crate) struct ToolBounds {
    pub(crate) names: NameLimits,
    pub(crate) max_tools: usize,
    pub(crate) max_tool_bytes: usize,
    pub(crate) max_tool_patterns: usize,
    pub(crate) max_pattern_bytes: usize,
    pub(crate) max_pattern_compiled_bytes: usize,
    pub(crate) max_bytes_per_connection: usize,
    pub(crate) max_patterns_per_connection: usize,
}

impl ToolBounds {
    pub(crate) fn of(config: &RunsConfig) -> ToolBounds {
        ToolBounds {
            names: config.names.clone(),
            max_tools: config.max_tools_per_connection,
            max_tool_bytes: config.max_tool_bytes,
            max_tool_patterns: config.max_tool_patterns,
            max_pattern_bytes: config.max_pattern_bytes,
            max_pattern_compiled_bytes: config.max_pattern_compiled_bytes,
            max_bytes_per_connection: config.max_tool_bytes_per_connection,
            max_patterns_per_connection: config.max_tool_patterns_per_connection,
        }
    }
}

pub(crate) struct Tool {
    pub(crate) definition: ToolDefinition,
    cost: Cost,
    /// `None` for a schemaless tool (`parameters` absent or `{}`).
    validator: Option<jsonschema::Validator>,
}

impl Tool {
    /// Checks the definition's name and cost, then compiles its schema.
    pub(crate) fn compile(definition: ToolDefinition, bounds: &ToolBounds) -> Result<Tool, RunsError> {
        let cost = Self::measure(&definition, bounds)?;
        let bad = |problem: String| RunsError::BadTool { name: definition.name.clone(), problem };
        let validator = match &definition.parameters {
            None => None,
            Some(Value::Object(schema)) if schema.is_empty() => None,
            Some(schema) => {
                // Each regex program and its lazy DFA cache are capped (`regex`'s own
                // defaults are 10 MiB and 2 MiB per regex); past the cap the pattern is refused.
                let engine = jsonschema::PatternOptions::fancy_regex()
                    .size_limit(bounds.max_pattern_compiled_bytes)
                    .dfa_size_limit(bounds.max_pattern_compiled_bytes);
                let built = jsonschema::options().with_pattern_options(engine).build(schema);
                Some(built.map_err(|e| {
                    bad(format!(
                        "invalid parameters schema (a regex may be over runs.max_pattern_compiled_bytes = {}): {e}",
                        bounds.max_pattern_compiled_bytes
                    ))
                })?)
            }
        };
        Ok(Tool { definition, cost, validator })
    }

    fn measure(definition: &ToolDefinition, bounds: &ToolBounds) -> Result<Cost, RunsError> {
        let over = |bound: Bound| RunsError::ToolCost {
            tool: tether_core::excerpt(&definition.name, 64),
            what: bound.what,
            limit: bound.limit,
            max: bound.max,
            value: bound.value,
        };
        bounds.names.check(NameKind::Tool, "params[].name", &definition.name)?;
        if definition.name.trim().is_empty() {
            return Err(RunsError::BadTool { name: definition.name.clone(), problem: "name must not be empty".into() });
        }
        let cost = Cost::of(definition, bounds.max_pattern_bytes).map_err(over)?;
        if cost.bytes > bounds.max_tool_bytes {
            let what = "the description and parameters schema are too large";
            return Err(over(Bound {
                what,
                limit: "runs.max_tool_bytes",
                max: bounds.max_tool_bytes,
                value: cost.bytes,
            }));
        }
        if cost.patterns > bounds.max_tool_patterns {
            let (what, limit, max) =
                ("the schema compiles too many regexes", "runs.max_tool_patterns", bounds.max_tool_patterns);
            return Err(over(Bound { what, limit, max, value: cost.patterns }));
        }
        Ok(cost)
    }

    /// Checks an action's parameters; the error names the failing path.
    pub(crate) fn check(&self, parameters: &Value) -> Result<(), String> {
        let Some(validator) = &self.validator else { return Ok(()) };
        validator.validate(parameters).map_err(|e| {
            let path = e.instance_path().as_str();
            let at = if path.is_empty() { "parameters".to_owned() } else { format!("parameters{path}") };
            format!("{at}: {e}")
        })
    }
}

#[derive(Default)]
pub(crate) struct Tools(BTreeMap<String, Arc<Tool>>);

impl Tools {
    /// Whether `definitions` may join this connection's tools: one bad definition, one
    /// tool past `max_tools`, or a total past the connection's budget refuses the whole
    /// call. Measured on the JSON, so a refused call compiles nothing.
    pub(crate) fn admit(&self, definitions: &[ToolDefinition], bounds: &ToolBounds) -> Result<(), RunsError> {
        let new = definitions.iter().filter(|d| !self.0.contains_key(&d.name)).count();
        if self.0.len() + new > bounds.max_tools {
            let what = "too many tools on this connection";
            return Err(RunsError::Limit { what, limit: "runs.max_tools_per_connection", value: bounds.max_tools });
        }
        // What stays registered (tools not replaced by this call) plus what comes in.
        let mut total = Cost::default();
        for (name, tool) in &self.0 {
            if !definitions.iter().any(|d| d.name == *name) {
                total.bytes += tool.cost.bytes;
                total.patterns += tool.cost.patterns;
            }
        }
        for definition in definitions {
            let cost = Tool::measure(definition, bounds)?;
            total.bytes += cost.bytes;
            total.patterns += cost.patterns;
        }
        let over = |what, limit, max, value| RunsError::ToolCost { tool: "*".into(), what, limit, max, value };
        if total.bytes > bounds.max_bytes_per_connection {
            let what = "this connection's tools would be too large";
            return Err(over(what, "runs.max_tool_bytes_per_connection", bounds.max_bytes_per_connection, total.bytes));
        }
        if total.patterns > bounds.max_patterns_per_connection {
            let what = "this connection's tools would compile too many regexes";
            let limit = "runs.max_tool_patterns_per_connection";
            return Err(over(what, limit, bounds.max_patterns_per_connection, total.patterns));
        }
        Ok(())
    }

    /// Adds compiled tools, admitted again: another call on the same connection may
    /// have registered tools while these compiled.
    pub(crate) fn insert(&mut self, compiled: Vec<Tool>, bounds: &ToolBounds) -> Result<usize, RunsError> {
        let definitions: Vec<ToolDefinition> = compiled.iter().map(|t| t.definition.clone()).collect();
        self.admit(&definitions, bounds)?;
        let count = compiled.len();
        for tool in compiled {
            self.0.insert(tool.definition.name.clone(), Arc::new(tool));
        }
        Ok(count)
    }

    /// [`admit`](Self::admit), compile, [`insert`](Self::insert), in one step (tests).
    #[cfg(test)]
    pub(crate) fn register(
        &mut self,
        definitions: Vec<ToolDefinition>,
        bounds: &ToolBounds,
    ) -> Result<usize, RunsError> {
        self.admit(&definitions, bounds)?;
        let compiled = compile_all(definitions, bounds)?;
        self.insert(compiled, bounds)
    }

    pub(crate) fn unregister(&mut self, name: &str) -> bool {
        self.0.remove(name).is_some()
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<Tool>> {
        self.0.get(name).cloned()
    }

    pub(crate) fn definitions(&self) -> Vec<ToolDefinition> {
        self.0.values().map(|t| t.definition.clone()).collect()
    }

    /// What every registered tool costs together.
    pub(crate) fn cost(&self) -> Cost {
        self.0.values().fold(Cost::default(), |sum, t| Cost {
            bytes: sum.bytes + t.cost.bytes,
            patterns: sum.patterns + t.cost.patterns,
        })
    }
}

fn compile_all(definitions: Vec<ToolDefinition>, bounds: &ToolBounds) -> Result<Vec<Tool>, RunsError> {
    definitions.into_iter().map(|d| Tool::compile(d, bounds)).collect()
}

impl crate::Runs {
    /// `tools.register`. Compiling a full budget takes a while (1024 regexes): it runs
    /// on a blocking thread, outside the lock every connection's runs state shares,
    /// between an admission on the definitions' JSON and another as the tools go in.
    pub async fn register_tools(&self, caller: &Caller, definitions: Vec<ToolDefinition>) -> Result<usize, RunsError> {
        let bounds = self.tool_bounds.clone();
        self.with_conn(caller, |c| c.tools.admit(&definitions, &bounds))?;
        let compiling = bounds.clone();
        let compiled = tokio::task::spawn_blocking(move || compile_all(definitions, &compiling))
            .await
            .map_err(|e| RunsError::Internal(format!("compiling tool schemas: {e}")))??;
        self.with_conn(caller, |c| c.tools.insert(compiled, &bounds))
    }

    /// `tools.list`: this connection's tools.
    pub fn tools_of(&self, caller: &Caller) -> Vec<ToolDefinition> {
        self.with_conn(caller, |c| c.tools.definitions())
    }

    /// `tools.unregister`: whether the tool was there.
    pub fn unregister_tool(&self, caller: &Caller, name: &str) -> bool {
        self.with_conn(caller, |c| c.tools.unregister(name))
    }
}

/// A connection whose tools compiled this much was heavy enough to leave the allocator
/// holding pages once it closed: the allocator keeps freed regex programs (with glibc,
/// four full budgets measured 100 MiB still resident after their connections closed).
fn heavy(cost: Cost) -> bool {
    cost.patterns >= 64 || cost.bytes >= 256 << 10
}

static TRIMMING: AtomicBool = AtomicBool::new(false);
static TRIM_AGAIN: AtomicBool = AtomicBool::new(false);

/// Hands free heap pages back to the system after a heavy connection's tools were
/// dropped. Closes that arrive while a trim runs ask for one more pass instead of a
/// thread each, so a client cycling connections costs at most one trim at a time.
pub(crate) fn release_memory_after(cost: Cost) {
    if !heavy(cost) {
        return;
    }
    TRIM_AGAIN.store(true, Ordering::Release);
    if TRIMMING.swap(true, Ordering::AcqRel) {
        return;
    }
    let trim = || loop {
        while TRIM_AGAIN.swap(false, Ordering::AcqRel) {
            tether_core::release_free_memory();
        }
        TRIMMING.store(false, Ordering::Release);
        if !TRIM_AGAIN.load(Ordering::Acquire) || TRIMMING.swap(true, Ordering::AcqRel) {
            return;
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(trim)),
        Err(_) => trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bounds() -> ToolBounds {
        ToolBounds::of(&RunsConfig::default())
    }

    fn definition(name: &str, parameters: Option<Value>) -> ToolDefinition {
        ToolDefinition { name: name.into(), description: None, parameters }
    }

    fn tool(parameters: Option<Value>) -> Result<Tool, RunsError> {
        Tool::compile(definition("echo", parameters), &bounds())
    }

    fn patterns(n: usize) -> Value {
        let properties: serde_json::Map<String, Value> =
            (0..n).map(|i| (format!("p{i}"), json!({"type": "string", "pattern": format!("^a{i}[0-9]+$")}))).collect();
        json!({"type": "object", "properties": properties})
    }

    #[test]
    fn schema_errors_name_the_path() {
        let t = tool(Some(json!({"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}))).unwrap();
        assert!(t.check(&json!({"n": 1})).is_ok());
        let err = t.check(&json!({"n": "one"})).unwrap_err();
        assert!(err.starts_with("parameters/n:"), "{err}");
        assert!(t.check(&json!({})).unwrap_err().starts_with("parameters:"));
    }

    #[test]
    fn empty_or_absent_schema_is_schemaless_and_a_bad_schema_is_refused() {
        assert!(tool(None).unwrap().check(&json!([1, 2])).is_ok());
        assert!(tool(Some(json!({}))).unwrap().check(&json!("x")).is_ok());
        assert!(matches!(tool(Some(json!({"type": 12}))), Err(RunsError::BadTool { .. })));
    }

    #[test]
    fn every_regex_is_counted_and_each_bound_is_named() {
        let schema = json!({"patternProperties": {"^x": {}, "^y": {"pattern": "z"}}, "items": [{"pattern": "q"}]});
        assert_eq!(Cost::of(&definition("t", Some(schema)), 100).unwrap().patterns, 4);

        let limit = |r: Result<Tool, RunsError>| match r {
            Err(RunsError::ToolCost { limit, .. }) => limit,
            other => panic!("{:?}", other.map(|_| ())),
        };
        let small = ToolBounds { max_tool_patterns: 3, max_pattern_bytes: 12, max_tool_bytes: 400, ..bounds() };
        assert_eq!(limit(Tool::compile(definition("t", Some(patterns(4))), &small)), "runs.max_tool_patterns");
        let long = json!({"pattern": "a".repeat(13)});
        assert_eq!(limit(Tool::compile(definition("t", Some(long)), &small)), "runs.max_pattern_bytes");
        let big = json!({"description": "d".repeat(500)});
        assert_eq!(limit(Tool::compile(definition("t", Some(big)), &small)), "runs.max_tool_bytes");
        // A tiny pattern with a huge program is refused by the engine's size limit.
        let huge = ToolBounds { max_pattern_compiled_bytes: 4096, ..bounds() };
        let blowup = json!({"pattern": "(\\w{50}){50}"});
        assert!(matches!(Tool::compile(definition("t", Some(blowup)), &huge), Err(RunsError::BadTool { .. })));
    }

    #[test]
    fn the_connection_budget_counts_what_stays_and_what_comes() {
        let budget = ToolBounds { max_patterns_per_connection: 10, ..bounds() };
        let mut tools = Tools::default();
        tools.register(vec![definition("a", Some(patterns(6)))], &budget).unwrap();
        let err = tools.register(vec![definition("b", Some(patterns(5)))], &budget).unwrap_err();
        assert!(matches!(err, RunsError::ToolCost { limit: "runs.max_tool_patterns_per_connection", .. }), "{err}");
        // Replacing `a` frees its share; unregistering frees it too.
        tools.register(vec![definition("a", Some(patterns(2))), definition("b", Some(patterns(8)))], &budget).unwrap();
        assert!(tools.unregister("b"));
        tools.register(vec![definition("c", Some(patterns(8)))], &budget).unwrap();
    }
}
