//! A reply as the dispatcher sends it. A handler's result is serialised once,
//! straight into the text of its reply (`ResultText`); the dispatcher only adds the
//! id. A 4 MiB snapshot was serialised, then copied whole into its reply.

use std::marker::PhantomData;

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
    /// The result of a request answered already (`Early`), which is never sent.
    pub(crate) fn unsent() -> Self {
        ResultText(String::new())
    }

    pub(crate) fn of<T: Serialize>(result: &T) -> Result<Self, serde_json::Error> {
        let mut text = Headroom(Vec::with_capacity(256));
        text.0.extend_from_slice(HEAD.as_bytes());
        serde_json::to_writer(&mut text, result)?;
        let text = text.0;
        debug_assert!(std::str::from_utf8(&text).is_ok());
        // SAFETY: serde_json writes only UTF-8, and so does HEAD: `serde_json::to_string`
        // relies on the same (its `from_utf8_unchecked`). A spliced raw value is a
        // `str`. Checking again was 4% of serving a 4 MiB snapshot.
        Ok(ResultText(unsafe { String::from_utf8_unchecked(text) }))
    }

    /// A result its handler wrote into the reply's own buffer: taken as it is.
    pub(crate) fn written<T>(written: Written<T>) -> Self {
        ResultText(written.text)
    }

    /// The result alone, as JSON text.
    #[cfg(test)]
    pub(crate) fn result(&self) -> &str {
        &self.0[HEAD.len()..]
    }

    pub(crate) fn finish(mut self, id: &Id) -> String {
        self.0.push_str(",\"id\":");
        self.0.push_str(&serde_json::to_string(id).expect("an id always serializes"));
        self.0.push('}');
        self.0
    }
}

/// A result its handler writes straight into its reply's text (`Registry::
/// register_written`): a result of megabytes read from the store, a run's snapshot,
/// serialised once built, would be copied whole again. The handler vouches that what
/// it writes is `T`'s JSON (debug builds check that it is JSON; its tests, that it
/// reads back as `T`).
pub struct Written<T> {
    text: String,
    _result: PhantomData<fn() -> T>,
}

impl<T> Written<T> {
    /// Room for the reply's id and closing brace after the result, so that finishing
    /// the reply does not copy it.
    const TAIL: usize = 64;

    /// An empty result with room for `bytes` of it.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut text = String::with_capacity(HEAD.len() + bytes + Self::TAIL);
        text.push_str(HEAD);
        Written { text, _result: PhantomData }
    }

    /// Appends JSON text as it is: the caller vouches for it.
    pub fn push_json(&mut self, json: &str) {
        self.text.push_str(json);
    }

    /// Appends a small value's JSON (an id, a status).
    pub fn push_value(&mut self, value: &impl Serialize) {
        // Fails only if the value's `Serialize` does, which the wire types' never do.
        self.text.push_str(&serde_json::to_string(value).expect("a wire type always serializes"));
    }

    /// Appends `,"name":` and a small value's JSON: a member after the first.
    pub fn push_member(&mut self, name: &str, value: &impl Serialize) {
        self.push_json(",");
        self.push_value(&name);
        self.push_json(":");
        self.push_value(value);
    }

    /// The result's length so far, in bytes.
    pub fn len(&self) -> usize {
        self.text.len() - HEAD.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The result as JSON text.
    pub fn as_json(&self) -> &str {
        &self.text[HEAD.len()..]
    }
}

impl<T: serde::de::DeserializeOwned> Written<T> {
    /// The result read back as its type (tests, and callers in-process).
    pub fn parse(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_json())
    }
}

/// A buffer that grows with an eighth to spare: a large splice (a snapshot) left
/// with no room would be copied whole again by the few bytes written after it.
struct Headroom(Vec<u8>);

impl std::io::Write for Headroom {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.0.capacity() - self.0.len() < buf.len() {
            self.0.reserve(buf.len() + (self.0.len() + buf.len()) / 8 + 64);
        }
        self.0.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

    #[test]
    fn a_written_result_is_its_reply_without_a_copy() {
        let mut written = Written::<serde_json::Value>::with_capacity(1 << 20);
        written.push_json(r#"{"snapshot":["#);
        written.push_json(&"[1],".repeat(1000));
        written.push_json("[2]]");
        written.push_member("run_id", &"a\"b");
        written.push_json("}");
        assert_eq!(written.parse().unwrap()["run_id"], "a\"b");
        let before = written.text.as_ptr();
        let result = ResultText::written(written);
        let text = Reply::Result { id: Id::String("0123456789abcdef0123456789".into()), result }.into_text();
        assert_eq!(text.as_ptr(), before, "the reply was copied");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["result"]["snapshot"].as_array().unwrap().len(), 1001);
        assert_eq!(parsed["id"], "0123456789abcdef0123456789");
    }

    #[test]
    fn a_large_result_leaves_room_for_the_rest_of_its_reply() {
        let big = "x".repeat(1 << 20);
        let result = ResultText::of(&serde_json::json!({"snapshot": big, "live_cursor": 7})).unwrap();
        let (capacity, text) = (result.0.capacity(), result.finish(&Id::Number(1)));
        assert!(text.len() <= capacity, "the id did not fit in what the result left");
        // Doubled (copied again) by the bytes after the splice, it would be twice as large.
        assert!(capacity < text.len() * 5 / 4, "{capacity} bytes held for {}", text.len());
    }
}
