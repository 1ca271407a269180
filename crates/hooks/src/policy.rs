//! The policy: TOML rules matched on the event, the tool name (glob) and fields
//! of the tool input (regex); the first match decides. No match decides nothing
//! (the caller applies `hooks.default_decision`). Plus a per-session rate limit
//! on tool calls.
//!
//! ```toml
//! [rate_limit]
//! tool_calls = 60
//! window_s = 60
//!
//! [[rules]]
//! name = "no-force-push"
//! event = "PreToolUse"
//! tool = "Bash"
//! input = { command = "git push .*--force" }
//! decision = "deny"
//! reason = "force pushes need a human"
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tether_proto::hooks::Decision;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimit {
    pub(crate) tool_calls: u32,
    pub(crate) window_s: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: Option<String>,
    event: Option<Spanned<String>>,
    tool: Option<Spanned<String>>,
    #[serde(default)]
    input: BTreeMap<String, Spanned<String>>,
    decision: Decision,
    reason: Option<String>,
}

struct Rule {
    name: String,
    event: Option<glob::Pattern>,
    tool: Option<glob::Pattern>,
    /// (dotted path into `tool_input`, pattern)
    input: Vec<(String, regex::Regex)>,
    decision: Decision,
    reason: Option<String>,
    shown: Value,
}

#[derive(Default)]
pub(crate) struct Policy {
    rules: Vec<Rule>,
    pub(crate) rate_limit: Option<RateLimit>,
}

pub(crate) struct Verdict {
    pub(crate) decision: Decision,
    pub(crate) reason: Option<String>,
    pub(crate) rule: Option<String>,
}

impl Policy {
    /// Parses a policy; the error names the line of the problem.
    pub(crate) fn parse(text: &str) -> Result<Policy, String> {
        let file: PolicyFile = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        let mut rules = Vec::new();
        for (n, spec) in file.rules.into_iter().enumerate() {
            let name = spec.name.clone().unwrap_or_else(|| format!("rule {}", n + 1));
            let at = |span: Range<usize>| format!("line {}: rule {name:?}", line_of(text, span.start));
            let pattern = |field: &Option<Spanned<String>>| -> Result<Option<glob::Pattern>, String> {
                field
                    .as_ref()
                    .map(|s| {
                        glob::Pattern::new(s.get_ref())
                            .map_err(|e| format!("{}: bad glob {:?}: {e}", at(s.span()), s.get_ref()))
                    })
                    .transpose()
            };
            let (event, tool) = (pattern(&spec.event)?, pattern(&spec.tool)?);
            let mut input = Vec::new();
            for (field, regex) in &spec.input {
                let compiled = regex::Regex::new(regex.get_ref())
                    .map_err(|e| format!("{}: bad regex for input.{field}: {e}", at(regex.span())))?;
                input.push((field.clone(), compiled));
            }
            let shown = json!({
                "name": name,
                "event": spec.event.as_ref().map(|s| s.get_ref()),
                "tool": spec.tool.as_ref().map(|s| s.get_ref()),
                "input": spec.input.iter().map(|(k, v)| (k.clone(), v.get_ref().clone())).collect::<BTreeMap<_, _>>(),
                "decision": spec.decision,
                "reason": spec.reason,
            });
            rules.push(Rule { name, event, tool, input, decision: spec.decision, reason: spec.reason, shown });
        }
        Ok(Policy { rules, rate_limit: file.rate_limit })
    }

    pub(crate) fn rules(&self) -> Vec<Value> {
        self.rules.iter().map(|r| r.shown.clone()).collect()
    }

    /// The first rule that matches decides; `None` when no rule matches.
    pub(crate) fn decide(&self, event: &str, tool: Option<&str>, tool_input: &Value) -> Option<Verdict> {
        self.rules
            .iter()
            .find(|rule| {
                rule.event.as_ref().is_none_or(|p| p.matches(event))
                    && rule.tool.as_ref().is_none_or(|p| tool.is_some_and(|t| p.matches(t)))
                    && rule.input.iter().all(|(path, re)| field(tool_input, path).is_some_and(|v| re.is_match(&v)))
            })
            .map(|rule| Verdict { decision: rule.decision, reason: rule.reason.clone(), rule: Some(rule.name.clone()) })
    }
}

/// Parses a policy file's text as the daemon would; `Ok` holds how many rules it has,
/// `Err` names the line of the first problem.
pub fn check_policy(text: &str) -> Result<usize, String> {
    Policy::parse(text).map(|policy| policy.rules().len())
}

/// Reads a policy file as the daemon does: a regular file of at most `max_bytes`
/// (so `/dev/zero` or a FIFO is refused, not read until memory runs out).
pub fn read_policy_file(path: &Path, max_bytes: u64) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let mut text = String::new();
    file.take(max_bytes + 1).read_to_string(&mut text).map_err(|e| format!("{}: {e}", path.display()))?;
    if text.len() as u64 > max_bytes {
        return Err(format!("{}: larger than hooks.max_policy_bytes ({max_bytes} bytes)", path.display()));
    }
    Ok(text)
}

pub(crate) fn load_policy(path: Option<&Path>, max_bytes: u64) -> Result<Policy, crate::HooksError> {
    let Some(path) = path else { return Ok(Policy::default()) };
    let text = read_policy_file(path, max_bytes).map_err(crate::HooksError::Policy)?;
    Policy::parse(&text).map_err(|e| crate::HooksError::Policy(format!("{}: {e}", path.display())))
}

/// How a rule reads a hook known only by its bounded form (see `tether_core::skim`).
pub(crate) enum Bounded {
    /// A rule that needs no tool input matched: it decides.
    Decided(Verdict),
    /// The first rule whose event and tool match needs the tool input, which was cut:
    /// no later rule may decide in its place (it might have matched first). Its name.
    NeedsInput(String),
}

impl Policy {
    /// The first rule, in order, that matches on event and tool; a rule that also
    /// matches on input cannot be evaluated, and stops the search (`NeedsInput`).
    pub(crate) fn decide_bounded(&self, event: &str, tool: Option<&str>) -> Option<Bounded> {
        let rule = self.rules.iter().find(|rule| {
            rule.event.as_ref().is_none_or(|p| p.matches(event))
                && rule.tool.as_ref().is_none_or(|p| tool.is_some_and(|t| p.matches(t)))
        })?;
        Some(if rule.input.is_empty() {
            Bounded::Decided(Verdict {
                decision: rule.decision,
                reason: rule.reason.clone(),
                rule: Some(rule.name.clone()),
            })
        } else {
            Bounded::NeedsInput(rule.name.clone())
        })
    }
}

/// A field of the tool input by dotted path, as text (strings as they are, the rest as JSON).
fn field(input: &Value, path: &str) -> Option<String> {
    let value = path.split('.').try_fold(input, |v, key| v.get(key))?;
    Some(match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Sessions tracked before idle ones are forgotten.
const MAX_TRACKED: usize = 4096;

/// Tool calls per session in a sliding window.
#[derive(Default)]
pub(crate) struct RateLimiter(HashMap<String, VecDeque<Instant>>);

impl RateLimiter {
    /// Counts a call; false when it is over the limit (an over-limit call is not counted).
    pub(crate) fn admit(&mut self, session: &str, limit: &RateLimit, now: Instant) -> bool {
        let window = Duration::from_secs(limit.window_s);
        if self.0.len() >= MAX_TRACKED && !self.0.contains_key(session) {
            // Forget whoever has no call left in the window, so the map stays bounded.
            self.0.retain(|_, calls| calls.back().is_some_and(|&t| now.duration_since(t) < window));
        }
        let calls = self.0.entry(session.to_owned()).or_default();
        while calls.front().is_some_and(|&t| now.duration_since(t) >= window) {
            calls.pop_front();
        }
        if calls.len() >= limit.tool_calls as usize {
            return false;
        }
        calls.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[[rules]]
name = "no-rm"
event = "PreToolUse"
tool = "Bash"
input = { command = "rm\\s+-rf" }
decision = "deny"
reason = "destructive"

[[rules]]
name = "ask-web"
tool = "Web*"
decision = "ask"

[[rules]]
name = "nested"
input = { "file.path" = "^/etc/" }
decision = "deny"
"#;

    #[test]
    fn first_matching_rule_wins_and_nothing_matching_decides_nothing() {
        let policy = Policy::parse(POLICY).unwrap();
        let cases = [
            ("PreToolUse", Some("Bash"), json!({"command": "rm -rf /"}), Some((Decision::Deny, "no-rm"))),
            ("PreToolUse", Some("Bash"), json!({"command": "ls"}), None),
            ("PostToolUse", Some("Bash"), json!({"command": "rm -rf /"}), None),
            ("PreToolUse", Some("WebFetch"), json!({}), Some((Decision::Ask, "ask-web"))),
            ("PreToolUse", Some("Read"), json!({"file": {"path": "/etc/passwd"}}), Some((Decision::Deny, "nested"))),
            ("PreToolUse", None, json!({}), None),
        ];
        for (event, tool, input, expected) in cases {
            let verdict = policy.decide(event, tool, &input);
            let got = verdict.as_ref().map(|v| (v.decision, v.rule.as_deref().unwrap()));
            assert_eq!(got, expected, "{event} {tool:?} {input}");
        }
    }

    #[test]
    fn a_bounded_hook_is_decided_by_name_rules_and_stopped_by_input_rules() {
        let policy = Policy::parse(POLICY).unwrap();
        let decided = |event, tool| match policy.decide_bounded(event, tool) {
            Some(Bounded::Decided(v)) => Some(format!("{:?} {}", v.decision, v.rule.unwrap())),
            Some(Bounded::NeedsInput(rule)) => Some(format!("needs {rule}")),
            None => None,
        };
        assert_eq!(decided("PreToolUse", Some("Bash")).as_deref(), Some("needs no-rm"));
        assert_eq!(decided("PreToolUse", Some("WebFetch")).as_deref(), Some("Ask ask-web"));
        // `nested` matches any tool by input: a cut Read cannot be judged by it.
        assert_eq!(decided("PreToolUse", Some("Read")).as_deref(), Some("needs nested"));
        assert!(Policy::parse("").unwrap().decide_bounded("PreToolUse", Some("Read")).is_none());
    }

    #[test]
    fn errors_name_the_line() {
        let bad_regex = "[[rules]]\nname = \"x\"\ninput = { command = \"(\" }\ndecision = \"deny\"\n";
        let err = Policy::parse(bad_regex).err().unwrap();
        assert!(err.contains("line 3") && err.contains("input.command"), "{err}");
        let bad_toml = "[[rules]]\ndecision = \"maybe\"\n";
        let err = Policy::parse(bad_toml).err().unwrap();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn the_rate_limit_slides() {
        let mut limiter = RateLimiter::default();
        let limit = RateLimit { tool_calls: 2, window_s: 10 };
        let t0 = Instant::now();
        assert!(limiter.admit("s", &limit, t0));
        assert!(limiter.admit("s", &limit, t0));
        assert!(!limiter.admit("s", &limit, t0 + Duration::from_secs(5)));
        assert!(limiter.admit("other", &limit, t0), "per session");
        assert!(limiter.admit("s", &limit, t0 + Duration::from_secs(10)), "the window slid");
    }
}
