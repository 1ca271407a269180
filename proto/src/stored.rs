//! A value served as the JSON text it was stored as.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::ser::{Error as _, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

mod splice;

/// The JSON text of a `T`, written by the daemon and spliced into replies as it
/// is: a trace page of stored records costs a copy, not a parse and a
/// re-serialisation. Its schema is `T`'s, so the contract does not change.
pub struct Stored<T> {
    json: Box<str>,
    of: PhantomData<fn() -> T>,
}

impl<T> Stored<T> {
    /// Checks that `text` is one JSON value (not that it is a `T`).
    pub fn from_json(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<IgnoredAny>(&text)?;
        Ok(Stored { json: text.into_boxed_str(), of: PhantomData })
    }

    /// Text this daemon's serialiser wrote and a checksum has vouched for since
    /// (the local journal's CRC): served without checking it again, which is most
    /// of what a trace page would otherwise cost. Text that is not one JSON value
    /// would make a reply no client can read; it is never unsafe.
    pub fn from_written_json(text: String) -> Self {
        Stored { json: text.into_boxed_str(), of: PhantomData }
    }

    /// The length of its JSON text, in bytes.
    pub fn json_len(&self) -> usize {
        self.json.len()
    }

    pub fn parse(&self) -> Result<T, serde_json::Error>
    where
        T: DeserializeOwned,
    {
        serde_json::from_str(&self.json)
    }
}

impl<T> Clone for Stored<T> {
    fn clone(&self) -> Self {
        Stored { json: self.json.clone(), of: PhantomData }
    }
}

impl<T> fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

impl<T> Serialize for Stored<T> {
    /// As `RawValue` serialises, under the name serde_json gave its own (`splice`),
    /// so any serialiser treats the two alike; where that name cannot be learned,
    /// through a checked `RawValue`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match splice::token() {
            Some(token) => {
                let mut raw = s.serialize_struct(token, 1)?;
                raw.serialize_field(token, &*self.json)?;
                raw.end()
            }
            None => RawValue::from_string(self.json.to_string()).map_err(S::Error::custom)?.serialize(s),
        }
    }
}

impl<'de, T> Deserialize<'de> for Stored<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Stored { json: Box::<RawValue>::deserialize(d)?.into(), of: PhantomData })
    }
}

impl<T: JsonSchema> JsonSchema for Stored<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        generator.subschema_for::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Page {
        records: Vec<Stored<Vec<u32>>>,
    }

    #[test]
    fn serialises_as_stored_and_parses_back() {
        let stored = Stored::<Vec<u32>>::from_json("[1, 2]".into()).unwrap();
        let text = serde_json::to_string(&Page { records: vec![stored.clone()] }).unwrap();
        assert_eq!(text, r#"{"records":[[1, 2]]}"#);
        let page: Page = serde_json::from_str(&text).unwrap();
        assert_eq!(page.records[0].parse().unwrap(), vec![1, 2]);
        assert!(Stored::<u32>::from_json("{".into()).is_err());
        assert!(Stored::<u32>::from_json("1 2".into()).is_err());
    }

    #[test]
    fn written_json_is_spliced_unchecked_into_text_and_values() {
        assert!(splice::token().is_some(), "serde_json's raw-value name was not learned: every reply re-checks");
        let stored = Stored::<Vec<u32>>::from_written_json("[3,\n 4]".into());
        let page = Page { records: vec![stored] };
        assert_eq!(serde_json::to_string(&page).unwrap(), "{\"records\":[[3,\n 4]]}");
        // Through a serialiser other than text's, the same as a `RawValue`.
        assert_eq!(serde_json::to_value(&page).unwrap(), serde_json::json!({"records": [[3, 4]]}));
    }
}
