//! Keeping client data small where it is stored or echoed: a large JSON value is
//! replaced by its head, its tail and its original size.

use serde_json::{Value, json};

/// Replaces a value larger than `limit` (as JSON; strings by their text) with
/// `{head, tail, elided, original_bytes}`, keeping `limit` bytes in all.
pub fn head_and_tail(value: &mut Value, limit: usize) {
    let text = match &mut *value {
        Value::String(s) if s.len() <= limit => return,
        Value::String(s) => std::mem::take(s),
        other if approx_len(other) <= limit => return,
        other => other.to_string(),
    };
    let half = limit / 2;
    *value = json!({
        "head": prefix(&text, half),
        "tail": suffix(&text, half),
        "elided": "…",
        "original_bytes": text.len(),
    });
}

/// About the size of `value` as JSON, without serializing it: string escapes are
/// not counted, so it costs one step per node, not per byte.
pub fn approx_len(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Bool(_) => 5,
        Value::Number(n) => number_len(n),
        Value::String(s) => s.len() + 2,
        Value::Array(items) => 2 + items.iter().map(|v| approx_len(v) + 1).sum::<usize>(),
        Value::Object(map) => 2 + map.iter().map(|(k, v)| k.len() + 4 + approx_len(v)).sum::<usize>(),
    }
}

/// A number's length as JSON, counted as it is formatted (every event's payload is
/// measured: a `String` per number was an allocation per publish).
fn number_len(n: &serde_json::Number) -> usize {
    struct Count(usize);
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = std::fmt::write(&mut count, format_args!("{n}"));
    count.0
}

/// Bounds a whole payload to about `limit` bytes: objects and arrays keep their
/// shape and share the budget among their members, so small fields (names, ids)
/// survive whole and only the large ones are cut. Returns the (approximate) final size.
pub fn bound(value: &mut Value, limit: usize) -> usize {
    let size = approx_len(value);
    if size <= limit {
        return size;
    }
    let share = |n: usize| (limit / n.max(1)).max(MIN_SHARE);
    match value {
        Value::Object(map) => {
            let each = share(map.len());
            for member in map.values_mut() {
                bound(member, each);
            }
        }
        Value::Array(items) if items.len() <= MAX_ITEMS => {
            let each = share(items.len());
            for item in items.iter_mut() {
                bound(item, each);
            }
        }
        _ => {}
    }
    if approx_len(value) > limit + SLACK {
        head_and_tail(value, limit);
    }
    approx_len(value)
}

/// The least budget one member gets, so a wide object is not cut to nothing.
const MIN_SHARE: usize = 256;
/// Arrays longer than this are cut as a whole.
const MAX_ITEMS: usize = 64;
/// What the markers of a cut may add on top of the limit.
const SLACK: usize = 256;

fn prefix(s: &str, n: usize) -> &str {
    let mut end = n.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn suffix(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_keep_head_tail_and_size() {
        let mut big = json!("a".repeat(3000) + &"z".repeat(3000));
        head_and_tail(&mut big, 4096);
        assert_eq!(big["original_bytes"], 6000);
        assert_eq!(big["head"].as_str().unwrap(), "a".repeat(2048));
        assert_eq!(big["tail"].as_str().unwrap(), "z".repeat(2048));
        let mut small = json!({"stdout": "ok"});
        head_and_tail(&mut small, 4096);
        assert_eq!(small, json!({"stdout": "ok"}));
    }

    #[test]
    fn numbers_count_as_long_as_their_json() {
        for n in [json!(0), json!(-17), json!(u64::MAX), json!(1.5), json!(-2.5e-300)] {
            assert_eq!(approx_len(&n), n.to_string().len(), "{n}");
        }
    }

    #[test]
    fn bound_keeps_small_fields_and_cuts_large_ones() {
        let mut payload = json!({
            "tool": "Bash",
            "input": {"command": "x".repeat(1 << 20), "cwd": "/tmp"},
            "many": (0..10_000).collect::<Vec<u32>>(),
        });
        let size = bound(&mut payload, 16 << 10);
        assert!(size <= (16 << 10) + SLACK, "{size}");
        assert_eq!(payload["tool"], "Bash");
        assert_eq!(payload["input"]["cwd"], "/tmp");
        assert_eq!(payload["input"]["command"]["original_bytes"], 1 << 20);
        assert!(payload["many"]["original_bytes"].as_u64().unwrap() > 40_000);
    }
}
