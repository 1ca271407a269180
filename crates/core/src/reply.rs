//! A reply as the dispatcher sends it. A handler's result is serialised once,
//! straight into the text of its reply (`ResultText`); the dispatcher only adds the
//! id. A 4 MiB snapshot was serialised, then copied whole into its reply.

use serde::Serialize;
use tether_proto::jsonrpc::{Id, Response};

pub(crate) enum Reply {
    Result { id: Id, result: ResultText },
    Error(Response),
}

impl Reply {
    pub(crate) fn into_text(self) -> String {
        match self {
            Reply::Result { id, result } => result.finish(&id),
            Reply::Error(response) => serde_json::to_string(&response).expect("an error reply always serializes"),
        }
    }
}

/// A reply's text up to its id, in `Response`'s field order (jsonrpc, result, id).
pub(crate) struct ResultText(String);

const HEAD: &str = r#"{"jsonrpc":"2.0","result":"#;

impl ResultText {
    pub(crate) fn of<T: Serialize>(result: &T) -> Result<Self, serde_json::Error> {
        let mut text = Vec::with_capacity(256);
        text.extend_from_slice(HEAD.as_bytes());
        serde_json::to_writer(&mut text, result)?;
        // serde_json writes only UTF-8; the check is a fast scan (0.1 ms for 4 MiB).
        let text = String::from_utf8(text).map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e))?;
        Ok(ResultText(text))
    }

    /// The result alone, as JSON text.
    #[cfg(test)]
    pub(crate) fn result(&self) -> &str {
        &self.0[HEAD.len()..]
    }

    fn finish(mut self, id: &Id) -> String {
        self.0.push_str(",\"id\":");
        self.0.push_str(&serde_json::to_string(id).expect("an id always serializes"));
        self.0.push('}');
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_reads_back_as_a_response() {
        let result = ResultText::of(&serde_json::json!({"a": [1, "x"]})).unwrap();
        assert_eq!(result.result(), r#"{"a":[1,"x"]}"#);
        let text = Reply::Result { id: Id::Number(7), result }.into_text();
        assert_eq!(text, r#"{"jsonrpc":"2.0","result":{"a":[1,"x"]},"id":7}"#);
        let parsed: Response = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.id, Some(Id::Number(7)));
        let text = Reply::Result { id: Id::String("a\"b".into()), result: ResultText::of(&()).unwrap() }.into_text();
        let parsed: Response = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.id, Some(Id::String("a\"b".into())));
    }
}
