//! Turning one text frame into JSON-RPC items, with precise errors.

use serde_json::{Map, Value};
use tether_proto::ErrorObject;
use tether_proto::jsonrpc::Id;

use crate::error::RpcError;

/// One element of what a client sent.
#[derive(Debug)]
pub(crate) enum Item {
    /// A request (`id: Some`) or a notification (`id: None`).
    Call { id: Option<Id>, method: String, params: Option<Value> },
    /// A reply to one of our server → client requests.
    Reply { id: Id, outcome: Result<Value, ErrorObject> },
    /// Not a valid request; answered with this error and this id (or `null`).
    Invalid { id: Option<Id>, error: RpcError },
}

pub(crate) enum Frame {
    Single(Item),
    Batch(Vec<Item>),
    /// Not JSON at all, or nested too deep, or an empty or oversized batch: one error, id `null`.
    Rejected(RpcError),
}

pub(crate) fn parse_frame(text: &str, max_depth: usize, max_batch: usize, max_id_bytes: usize) -> Frame {
    if depth_exceeds(text.as_bytes(), max_depth) {
        return Frame::Rejected(RpcError::Parse(format!(
            "JSON nested deeper than {max_depth} levels (limits.max_json_depth)"
        )));
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Frame::Rejected(RpcError::Parse(e.to_string())),
    };
    match value {
        Value::Array(items) if items.is_empty() => Frame::Rejected(RpcError::InvalidRequest("empty batch".into())),
        Value::Array(items) if items.len() > max_batch => Frame::Rejected(RpcError::InvalidRequest(format!(
            "batch of {} exceeds limits.max_batch = {max_batch}",
            items.len()
        ))),
        Value::Array(items) => Frame::Batch(items.into_iter().map(|v| classify(v, max_id_bytes)).collect()),
        other => Frame::Single(classify(other, max_id_bytes)),
    }
}

fn classify(value: Value, max_id_bytes: usize) -> Item {
    let Value::Object(mut obj) = value else {
        return invalid(None, "a request must be a JSON object");
    };
    let id = match obj.remove("id") {
        None => None,
        Some(raw) => match parse_id(raw, max_id_bytes) {
            Ok(id) => Some(id),
            Err(msg) => return invalid(None, &msg),
        },
    };
    if !obj.contains_key("method") {
        return classify_reply(id, obj);
    }
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id, "\"jsonrpc\" must be \"2.0\"");
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => return invalid(id, "\"method\" must be a string"),
    };
    let params = match obj.remove("params") {
        None => None,
        Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
        Some(_) => return invalid(id, "\"params\" must be an object or an array"),
    };
    Item::Call { id, method, params }
}

fn classify_reply(id: Option<Id>, mut obj: Map<String, Value>) -> Item {
    let outcome = match (obj.remove("result"), obj.remove("error")) {
        (Some(result), None) => Ok(result),
        (None, Some(error)) => match serde_json::from_value(error) {
            Ok(error) => Err(error),
            Err(e) => return invalid(id, &format!("malformed \"error\" in reply: {e}")),
        },
        _ => return invalid(id, "missing \"method\""),
    };
    match id {
        Some(id) => Item::Reply { id, outcome },
        None => invalid(None, "a reply must carry the id of the request it answers"),
    }
}

fn parse_id(raw: Value, max_id_bytes: usize) -> Result<Id, String> {
    match raw {
        Value::String(s) if s.len() > max_id_bytes => {
            Err(format!("\"id\" is {} bytes, over limits.max_id_bytes = {max_id_bytes}", s.len()))
        }
        Value::String(s) => Ok(Id::String(s)),
        Value::Number(n) => n
            .as_i64()
            .map(Id::Number)
            .ok_or_else(|| "\"id\" must be an integer in the signed 64-bit range or a string".into()),
        Value::Null => Err("\"id\" must not be null".into()),
        _ => Err("\"id\" must be a string or an integer".into()),
    }
}

fn invalid(id: Option<Id>, msg: &str) -> Item {
    Item::Invalid { id, error: RpcError::InvalidRequest(msg.to_owned()) }
}

/// True when arrays and objects nest deeper than `limit`; checked before parsing
/// so a hostile frame never reaches the recursive parser.
fn depth_exceeds(text: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_only_structure_outside_strings() {
        assert!(!depth_exceeds(br#"{"a":[1,2]}"#, 2));
        assert!(depth_exceeds(br#"{"a":[[1]]}"#, 2));
        assert!(!depth_exceeds(br#"{"a":"[[[[\"[[["}"#, 1));
    }

    #[test]
    fn ids_are_strings_or_i64() {
        assert_eq!(parse_id(Value::from(7), 10), Ok(Id::Number(7)));
        assert_eq!(parse_id(Value::from("ab"), 10), Ok(Id::String("ab".into())));
        assert!(parse_id(Value::from(1.5), 10).is_err());
        assert!(parse_id(Value::from(u64::MAX), 10).is_err());
        assert!(parse_id(Value::Null, 10).is_err());
        assert!(parse_id(Value::from("x".repeat(11)), 10).unwrap_err().contains("max_id_bytes"));
    }

    #[test]
    fn a_reply_routes_to_the_broker() {
        let item = classify(serde_json::json!({"jsonrpc":"2.0","id":"cb-1","result":3}), 64);
        assert!(matches!(item, Item::Reply { id: Id::String(_), outcome: Ok(_) }));
    }
}
