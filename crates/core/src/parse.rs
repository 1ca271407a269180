//! Turning one text frame into JSON-RPC items, with precise errors.
//!
//! A well-formed frame is read once, as text: its envelope's members are borrowed
//! and a request's params are kept as their own text, for the handler to read
//! straight into its typed params (no `Value` tree built and walked in between).
//! Anything else (a duplicate member, a number a `Value` cannot hold) is classified
//! the slow way, through a `Value`, which words every refusal.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tether_proto::ErrorObject;
use tether_proto::jsonrpc::Id;

use crate::error::RpcError;

/// One element of what a client sent.
#[derive(Debug)]
pub(crate) enum Item {
    /// A request (`id: Some`) or a notification (`id: None`); its params as sent.
    Call { id: Option<Id>, method: String, params: Option<Box<RawValue>> },
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
    if let Some(frame) = read_as_text(text, max_batch, max_id_bytes) {
        return frame;
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

/// The frame read as text, or `None` for anything the `Value` path must word: text
/// that is not JSON, a duplicate member, a number a `Value` cannot hold (`1e400`).
fn read_as_text(text: &str, max_batch: usize, max_id_bytes: usize) -> Option<Frame> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => Some(Frame::Single(serde_json::from_str::<Envelope<'_>>(text).ok()?.classify(max_id_bytes)?)),
        Some(b'[') => {
            let items = serde_json::from_str::<Vec<&RawValue>>(text).ok()?;
            if items.is_empty() || items.len() > max_batch {
                return None;
            }
            let items = items.into_iter().map(|item| classify_text(item, max_id_bytes));
            Some(Frame::Batch(items.collect::<Option<Vec<Item>>>()?))
        }
        _ => None,
    }
}

/// A request or reply object's members, each as the text it was sent as. A member
/// sent as `null` is `Some("null")`: only an absent member is `None`.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(member: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(member).map(Some)
}

impl Envelope<'_> {
    /// The same questions, in the same order, as [`classify`] asks of a `Value`;
    /// `None` where a member is JSON a `Value` cannot hold. Every member judged here is
    /// read before any is judged, as the `Value` path reads the frame whole. Params (and
    /// members nobody reads) are not: a number in params that a `Value` cannot hold is
    /// their method's to read or refuse (-32602), not the frame's (-32700).
    fn classify(self, max_id_bytes: usize) -> Option<Item> {
        let (id, method) = (member(self.id)?, member(self.method)?);
        let (result, error) = (member(self.result)?, member(self.error)?);
        let version = match self.jsonrpc {
            Some(raw) if raw.get() == r#""2.0""# => true,
            Some(raw) => value_of(raw)?.as_str() == Some("2.0"),
            None => false,
        };
        let id = match id {
            None => None,
            Some(value) => match parse_id(value, max_id_bytes) {
                Ok(id) => Some(id),
                Err(msg) => return Some(invalid(None, &msg)),
            },
        };
        let Some(method) = method else {
            let mut obj = Map::new();
            for (name, member) in [("result", result), ("error", error)] {
                if let Some(value) = member {
                    obj.insert(name.to_owned(), value);
                }
            }
            return Some(classify_reply(id, obj));
        };
        if !version {
            return Some(invalid(id, "\"jsonrpc\" must be \"2.0\""));
        }
        let Value::String(method) = method else {
            return Some(invalid(id, "\"method\" must be a string"));
        };
        let params = match self.params {
            None => None,
            Some(raw) if matches!(raw.get().as_bytes().first(), Some(b'{' | b'[')) => Some(raw.to_owned()),
            Some(_) => return Some(invalid(id, "\"params\" must be an object or an array")),
        };
        Some(Item::Call { id, method, params })
    }
}

/// A member's `Value`, or `None` for JSON a `Value` cannot hold (a number out of range).
fn value_of(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

/// An optional member's `Value` (`Some(None)` when absent), or `None` as [`value_of`].
fn member(raw: Option<&RawValue>) -> Option<Option<Value>> {
    match raw {
        None => Some(None),
        Some(raw) => value_of(raw).map(Some),
    }
}

/// One element of a batch, read like a single frame.
fn classify_text(raw: &RawValue, max_id_bytes: usize) -> Option<Item> {
    if raw.get().starts_with('{') {
        serde_json::from_str::<Envelope<'_>>(raw.get()).ok()?.classify(max_id_bytes)
    } else {
        Some(classify(value_of(raw)?, max_id_bytes))
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
        Some(p @ (Value::Object(_) | Value::Array(_))) => {
            Some(serde_json::value::to_raw_value(&p).expect("a JSON value always serializes"))
        }
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

    /// What the `Value` path alone makes of `text` (the slow path every frame took before).
    fn slowly(text: &str) -> Vec<String> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items.into_iter().map(|v| format!("{:?}", classify(v, 16))).collect(),
            Ok(value) => vec![format!("{:?}", classify(value, 16))],
            Err(e) => vec![format!("rejected {e}")],
        }
    }

    fn read(text: &str) -> Vec<String> {
        match parse_frame(text, 64, 16, 16) {
            Frame::Single(item) => vec![format!("{item:?}")],
            Frame::Batch(items) => items.iter().map(|item| format!("{item:?}")).collect(),
            Frame::Rejected(RpcError::Parse(e)) => vec![format!("rejected {e}")],
            Frame::Rejected(e) => vec![format!("rejected {e:?}")],
        }
    }

    #[test]
    fn a_frame_read_as_text_reads_as_it_would_through_a_value() {
        let frames = [
            r#"{"jsonrpc":"2.0","id":1,"method":"server.ping"}"#,
            r#" {"jsonrpc":"2.0","id":"a","method":"m","params":{"x":[1,{"y":null}]}} "#,
            r#"{"jsonrpc":"2.0","method":"m","params":[1,2]}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":"12345678901234567","method":"m"}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m"}"#,
            r#"{"id":1,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":"text"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","params":null}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","result":null}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","result":{"out":"é"}}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","error":{"code":-1,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","error":{"code":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","result":1,"error":{"code":-1,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","result":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"m","other":[true]}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"m"},7,[1],{"jsonrpc":"2.0","id":1,"id":2,"method":"m"}]"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m"} trailing"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m""#,
            r#""just a string""#,
            r#"{"jsonrpc":"2.0","id":1e400,"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":"cb-1","result":{"x":-1e400}}"#,
            r#"{"jsonrpc":1e999,"id":1,"method":"m"}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"m"},{"jsonrpc":"2.0","id":2e400,"method":"m"}]"#,
            r#"{"jsonrpc":"2.0","id":1.5,"result":1e400}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"m","error":1e400}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"m","result":{"late":-1e400}}"#,
        ];
        for text in frames {
            assert_eq!(read(text), slowly(text), "{text}");
        }
    }

    #[test]
    fn params_keep_the_text_the_client_sent() {
        let Frame::Single(Item::Call { params: Some(params), .. }) =
            parse_frame(r#"{"jsonrpc":"2.0","id":1,"method":"m","params": {"a" : 1}}"#, 64, 16, 16)
        else {
            panic!("a call with params");
        };
        assert_eq!(params.get(), r#"{"a" : 1}"#);
    }

    #[test]
    fn a_reply_routes_to_the_broker() {
        let item = classify(serde_json::json!({"jsonrpc":"2.0","id":"cb-1","result":3}), 64);
        assert!(matches!(item, Item::Reply { id: Id::String(_), outcome: Ok(_) }));
    }
}
