//! The bounds on every name and identifier a client sends (`[limits.names]`).
//!
//! Names are small by nature (an event name, a tool name, a session id); a client
//! that sends megabytes in one is hostile or broken. Every domain checks the names
//! it keeps against these bounds where they enter: a method answers -32602 naming
//! the field and the limit ([`NameLimits::check`]); a hook, which must still be
//! recorded and judged, keeps the name trimmed and notes its length ([`NameLimits::trim`]).

use serde::{Deserialize, Serialize};

use crate::RpcError;

/// The kinds of name a client sends, each with its own bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A hook's `hook_event_name`, an event's kind.
    Event,
    /// A tool's name (`tools.register`, a hook's `tool_name`).
    Tool,
    /// A session id or name, Claude Code's `session_id` included.
    Session,
    /// An agent id (`agent_id`, a subagent's `agent_type`).
    Agent,
    /// An idempotency key.
    Key,
    /// A policy rule's name.
    Rule,
    /// An event family.
    Family,
}

impl NameKind {
    /// The configuration key of this kind's bound.
    pub fn limit(self) -> &'static str {
        match self {
            NameKind::Event => "limits.names.event",
            NameKind::Tool => "limits.names.tool",
            NameKind::Session => "limits.names.session",
            NameKind::Agent => "limits.names.agent",
            NameKind::Key => "limits.names.key",
            NameKind::Rule => "limits.names.rule",
            NameKind::Family => "limits.names.family",
        }
    }
}

/// Longest accepted name of each kind, in bytes of UTF-8.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NameLimits {
    pub event: usize,
    pub tool: usize,
    pub session: usize,
    pub agent: usize,
    pub key: usize,
    pub rule: usize,
    pub family: usize,
}

impl Default for NameLimits {
    fn default() -> Self {
        NameLimits { event: 128, tool: 256, session: 256, agent: 256, key: 256, rule: 256, family: 128 }
    }
}

impl NameLimits {
    pub fn max(&self, kind: NameKind) -> usize {
        match kind {
            NameKind::Event => self.event,
            NameKind::Tool => self.tool,
            NameKind::Session => self.session,
            NameKind::Agent => self.agent,
            NameKind::Key => self.key,
            NameKind::Rule => self.rule,
            NameKind::Family => self.family,
        }
    }

    /// `Err` (-32602, naming `field` and the limit) when `value` is over its kind's bound.
    pub fn check(&self, kind: NameKind, field: &'static str, value: &str) -> Result<(), RpcError> {
        let max = self.max(kind);
        if value.len() <= max {
            return Ok(());
        }
        Err(RpcError::TooLong { field, limit: kind.limit(), max, len: value.len() })
    }

    /// [`check`](Self::check) for an optional name.
    pub fn check_opt(&self, kind: NameKind, field: &'static str, value: Option<&str>) -> Result<(), RpcError> {
        value.map_or(Ok(()), |v| self.check(kind, field, v))
    }

    /// Cuts `value` to its kind's bound (on a character boundary) in place; returns its
    /// original length when it was cut, so the record can say so.
    pub fn trim(&self, kind: NameKind, value: &mut String) -> Option<usize> {
        let max = self.max(kind);
        if value.len() <= max {
            return None;
        }
        let len = value.len();
        let mut end = max;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        // A fresh allocation, not a shrunk one: a small string carved from a large
        // block would pin the block's pages in the allocator.
        *value = value[..end].to_owned();
        Some(len)
    }

    pub fn validate(&self) -> Result<(), String> {
        let all = [
            ("event", self.event),
            ("tool", self.tool),
            ("session", self.session),
            ("agent", self.agent),
            ("key", self.key),
            ("rule", self.rule),
            ("family", self.family),
        ];
        match all.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("limits.names.{name} must be at least 1")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_field_and_the_limit() {
        let limits = NameLimits { tool: 4, ..NameLimits::default() };
        assert!(limits.check(NameKind::Tool, "params.name", "abcd").is_ok());
        let err = limits.check(NameKind::Tool, "params.name", "abcde").unwrap_err();
        assert_eq!(err.code(), tether_proto::codes::INVALID_PARAMS);
        let text = err.to_string();
        assert!(text.contains("params.name") && text.contains("limits.names.tool") && text.contains('4'), "{text}");
    }

    #[test]
    fn trim_keeps_a_char_boundary_and_reports_the_length() {
        let limits = NameLimits { event: 4, ..NameLimits::default() };
        let mut name = "abcé€".to_owned();
        assert_eq!(limits.trim(NameKind::Event, &mut name), Some(8));
        assert_eq!(name, "abc");
        let mut short = "ab".to_owned();
        assert_eq!(limits.trim(NameKind::Event, &mut short), None);
    }
}
