//! A reply as the dispatcher sends it: a result already serialised by its
//! handler is spliced in as raw JSON, so a reply is serialised exactly once.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::value::RawValue;
use tether_proto::jsonrpc::{Id, Response, Version};

pub(crate) enum Reply {
    Result { id: Id, result: Box<RawValue> },
    Error(Response),
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            // Field order as `Response` writes it: jsonrpc, result, id.
            Reply::Result { id, result } => {
                let mut reply = s.serialize_struct("Response", 3)?;
                reply.serialize_field("jsonrpc", &Version)?;
                reply.serialize_field("result", result)?;
                reply.serialize_field("id", id)?;
                reply.end()
            }
            Reply::Error(response) => response.serialize(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_reads_back_as_a_response() {
        let result = serde_json::value::to_raw_value(&serde_json::json!({"a": [1, "x"]})).unwrap();
        let text = serde_json::to_string(&Reply::Result { id: Id::Number(7), result }).unwrap();
        assert_eq!(text, r#"{"jsonrpc":"2.0","result":{"a":[1,"x"]},"id":7}"#);
        let parsed: Response = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.id, Some(Id::Number(7)));
    }
}
