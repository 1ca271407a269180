//! A value served as the JSON text it was stored as.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// The JSON text of a `T`, written by the daemon and spliced into replies as it
/// is: a trace page of stored records costs a copy, not a parse and a
/// re-serialisation. Its schema is `T`'s, so the contract does not change.
pub struct Stored<T> {
    raw: Box<RawValue>,
    of: PhantomData<fn() -> T>,
}

impl<T> Stored<T> {
    /// Checks that `text` is one JSON value (not that it is a `T`).
    pub fn from_json(text: String) -> Result<Self, serde_json::Error> {
        Ok(Stored { raw: RawValue::from_string(text)?, of: PhantomData })
    }

    /// The length of its JSON text, in bytes.
    pub fn json_len(&self) -> usize {
        self.raw.get().len()
    }

    pub fn parse(&self) -> Result<T, serde_json::Error>
    where
        T: DeserializeOwned,
    {
        serde_json::from_str(self.raw.get())
    }
}

impl<T> Clone for Stored<T> {
    fn clone(&self) -> Self {
        Stored { raw: self.raw.clone(), of: PhantomData }
    }
}

impl<T> fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw.get())
    }
}

impl<T> Serialize for Stored<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Stored<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Stored { raw: Box::<RawValue>::deserialize(d)?, of: PhantomData })
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

    #[test]
    fn serialises_as_stored_and_parses_back() {
        let stored = Stored::<Vec<u32>>::from_json("[1, 2]".into()).unwrap();
        #[derive(Serialize, Deserialize)]
        struct Page {
            records: Vec<Stored<Vec<u32>>>,
        }
        let text = serde_json::to_string(&Page { records: vec![stored.clone()] }).unwrap();
        assert_eq!(text, r#"{"records":[[1, 2]]}"#);
        let page: Page = serde_json::from_str(&text).unwrap();
        assert_eq!(page.records[0].parse().unwrap(), vec![1, 2]);
        assert!(Stored::<u32>::from_json("{".into()).is_err());
    }
}
