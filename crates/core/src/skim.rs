//! The bounded form of a hook payload that cannot be parsed whole (too large, or
//! nested deeper than the parser allows): its top-level names, read by a byte-at-a-time
//! scanner that keeps no stack, so neither size nor depth costs memory or recursion.
//! A permission hook must still be judged on what can be known of it; refusing it
//! would let Claude Code run the tool (see `tether_hooks`, "deny never fails open").

use serde_json::{Map, Value};

/// The top-level string fields a hook is judged and recorded by; nothing else is kept,
/// so a body with a million keys keeps at most these.
pub const HOOK_NAMES: [&str; 9] = [
    "hook_event_name",
    "tool_name",
    "session_id",
    "agent_id",
    "agent_type",
    "tool_use_id",
    "cwd",
    "permission_mode",
    "transcript_path",
];

/// A kept name is cut at this many bytes (names are bounded again, and recorded
/// as trimmed, by `[limits.names]` when the hook is judged).
const MAX_NAME_BYTES: usize = 4096;

/// Feeds bytes in any chunks; `finish` gives the bounded form.
pub struct Skim {
    head_bytes: usize,
    total: u64,
    depth: u64,
    started: bool,
    not_object: bool,
    in_string: bool,
    escaped: bool,
    /// At depth 1: the next string is a key (after `{` or `,`), else a value (after `:`).
    expect_key: bool,
    /// The raw text of the string being read at depth 1 (cut at `MAX_NAME_BYTES`).
    text: Option<Vec<u8>>,
    key: Option<String>,
    fields: Map<String, Value>,
    /// The raw text of `tool_input`, up to `head_bytes`, while it is being read.
    input: Option<Vec<u8>>,
    input_head: Option<Vec<u8>>,
}

impl Skim {
    /// `head_bytes`: how much of `tool_input`'s raw text the bounded form keeps.
    pub fn new(head_bytes: usize) -> Skim {
        Skim {
            head_bytes,
            total: 0,
            depth: 0,
            started: false,
            not_object: false,
            in_string: false,
            escaped: false,
            expect_key: false,
            text: None,
            key: None,
            fields: Map::new(),
            input: None,
            input_head: None,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
        self.total += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn byte(&mut self, b: u8) {
        if self.not_object {
            return;
        }
        if !self.started {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'{' => {
                    self.started = true;
                    self.depth = 1;
                    self.expect_key = true;
                }
                _ => self.not_object = true,
            }
            return;
        }
        if let Some(input) = &mut self.input {
            // Everything of `tool_input` up to the `,` or `}` that ends it at depth 1.
            let ends = !self.in_string && self.depth == 1 && (b == b',' || b == b'}');
            if ends {
                self.input_head = self.input.take();
            } else if input.len() < self.head_bytes {
                input.push(b);
            }
        }
        if self.in_string {
            if let Some(text) = &mut self.text
                && (b != b'"' || self.escaped)
                && text.len() < MAX_NAME_BYTES
            {
                text.push(b);
            }
            match b {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => {
                    self.in_string = false;
                    if let Some(text) = self.text.take() {
                        self.string_at_top(&text);
                    }
                }
                _ => {}
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 {
                    self.text = Some(Vec::new());
                }
            }
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b',' if self.depth == 1 => {
                self.expect_key = true;
                self.key = None;
            }
            b':' if self.depth == 1 => {
                self.expect_key = false;
                if self.key.as_deref() == Some("tool_input") {
                    self.input = Some(Vec::new());
                }
            }
            _ => {}
        }
    }

    fn string_at_top(&mut self, raw: &[u8]) {
        let text = decode(raw);
        if self.expect_key {
            self.key = Some(text);
        } else if let Some(key) = self.key.take()
            && HOOK_NAMES.contains(&key.as_str())
        {
            self.fields.insert(key, Value::String(text));
        }
    }

    /// The bounded form: the kept names, and `tool_input` as the head of its raw
    /// text (a string). `None` when the bytes did not start a JSON object.
    pub fn finish(mut self) -> Option<Map<String, Value>> {
        if !self.started || self.not_object {
            return None;
        }
        let head = self.input_head.take().or(self.input.take());
        if let Some(head) = head {
            let text = String::from_utf8_lossy(&head).trim().to_owned();
            self.fields.insert("tool_input".into(), Value::String(text));
        }
        Some(self.fields)
    }
}

/// A JSON string's raw text (between the quotes) as text; escapes decoded when whole.
fn decode(raw: &[u8]) -> String {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn skim(text: &str, chunk: usize) -> Option<Map<String, Value>> {
        let mut skim = Skim::new(16);
        for part in text.as_bytes().chunks(chunk) {
            skim.feed(part);
        }
        skim.finish()
    }

    #[test]
    fn names_survive_any_depth_and_any_chunking() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let text = format!(
            r#"{{"tool_input": {{"a": {deep}, "s": "\"}}"}}, "hook_event_name":"PreToolUse", "tool_name" : "mcp__x\u0041", "n": 5, "other": "kept?"}}"#
        );
        for chunk in [1, 7, 4096] {
            let form = skim(&text, chunk).unwrap();
            assert_eq!(form["hook_event_name"], "PreToolUse");
            assert_eq!(form["tool_name"], "mcp__xA");
            assert!(!form.contains_key("other") && !form.contains_key("n"));
            assert_eq!(form["tool_input"], json!(format!("{{\"a\": {}", "[".repeat(9))), "16 bytes, trimmed");
        }
    }

    #[test]
    fn not_an_object_is_none() {
        assert!(skim("[1,2]", 3).is_none());
        assert!(skim("", 3).is_none());
        assert_eq!(skim(r#"{"tool_name":"a","tool_input":{}}"#, 2).unwrap()["tool_input"], json!("{}"));
    }
}
