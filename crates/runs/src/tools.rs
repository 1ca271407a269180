//! The tools one connection registered, with their compiled parameter schemas.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tether_proto::tools::ToolDefinition;

use crate::error::RunsError;

pub(crate) struct Tool {
    pub(crate) definition: ToolDefinition,
    /// `None` for a schemaless tool (`parameters` absent or `{}`).
    validator: Option<jsonschema::Validator>,
}

impl Tool {
    pub(crate) fn compile(definition: ToolDefinition) -> Result<Tool, RunsError> {
        let bad = |problem: String| RunsError::BadTool { name: definition.name.clone(), problem };
        if definition.name.trim().is_empty() {
            return Err(bad("name must not be empty".into()));
        }
        let validator = match &definition.parameters {
            None => None,
            Some(Value::Object(schema)) if schema.is_empty() => None,
            Some(schema) => {
                Some(jsonschema::validator_for(schema).map_err(|e| bad(format!("invalid parameters schema: {e}")))?)
            }
        };
        Ok(Tool { definition, validator })
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
    /// Registers all or none: one bad definition, or one tool past `max`, refuses the whole call.
    pub(crate) fn register(&mut self, definitions: Vec<ToolDefinition>, max: usize) -> Result<usize, RunsError> {
        let new = definitions.iter().filter(|d| !self.0.contains_key(&d.name)).count();
        if self.0.len() + new > max {
            let what = "too many tools on this connection";
            return Err(RunsError::Limit { what, limit: "runs.max_tools_per_connection", value: max });
        }
        let compiled = definitions.into_iter().map(Tool::compile).collect::<Result<Vec<_>, _>>()?;
        let count = compiled.len();
        for tool in compiled {
            self.0.insert(tool.definition.name.clone(), Arc::new(tool));
        }
        Ok(count)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(parameters: Option<Value>) -> Result<Tool, RunsError> {
        Tool::compile(ToolDefinition { name: "echo".into(), description: None, parameters })
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
}
