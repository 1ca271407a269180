//! The name under which serde_json's `RawValue` serialises itself, learned from
//! serde_json at first use rather than copied from its private constant, and
//! checked: a `Stored` serialised under it must come out as its text, spliced.
//! When either step fails (a serde_json that serialises raw values otherwise),
//! `token` is `None` and `Stored` falls back to a checked `RawValue`.

use std::fmt;
use std::sync::OnceLock;

use serde::ser::{self, Impossible, Serialize, SerializeStruct};
use serde_json::value::RawValue;

pub(super) fn token() -> Option<&'static str> {
    static TOKEN: OnceLock<Option<&'static str>> = OnceLock::new();
    *TOKEN.get_or_init(|| {
        let raw = RawValue::from_string("0".into()).ok()?;
        let mut name = None;
        raw.serialize(Capture(&mut name)).ok()?;
        let token = name?;
        let probe = Probe { token, text: "{\"a\": [1,\"]\"]}" };
        (serde_json::to_string(&[&probe]).ok()? == "[{\"a\": [1,\"]\"]}]").then_some(token)
    })
}

/// What `Stored` does with the token, over a fixed text.
struct Probe {
    token: &'static str,
    text: &'static str,
}

impl Serialize for Probe {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut raw = s.serialize_struct(self.token, 1)?;
        raw.serialize_field(self.token, self.text)?;
        raw.end()
    }
}

#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a raw value's shape")
    }
}

impl std::error::Error for Refused {}

impl ser::Error for Refused {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Refused
    }
}

/// A serialiser that accepts only a one-field struct whose field bears the
/// struct's own name (a raw value's shape), and records that name.
struct Capture<'a>(&'a mut Option<&'static str>);

struct Field<'a> {
    name: &'static str,
    seen: &'a mut Option<&'static str>,
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ok, Refused> { Err(Refused) })*
    };
}

impl<'a> ser::Serializer for Capture<'a> {
    type Ok = ();
    type Error = Refused;
    type SerializeSeq = Impossible<(), Refused>;
    type SerializeTuple = Impossible<(), Refused>;
    type SerializeTupleStruct = Impossible<(), Refused>;
    type SerializeTupleVariant = Impossible<(), Refused>;
    type SerializeMap = Impossible<(), Refused>;
    type SerializeStruct = Field<'a>;
    type SerializeStructVariant = Impossible<(), Refused>;

    refuse! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Refused> {
        Err(Refused)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, _: &T) -> Result<(), Refused> {
        Err(Refused)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Refused> {
        Err(Refused)
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Field<'a>, Refused> {
        if len != 1 {
            return Err(Refused);
        }
        Ok(Field { name, seen: self.0 })
    }
}

impl SerializeStruct for Field<'_> {
    type Ok = ();
    type Error = Refused;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, _: &T) -> Result<(), Refused> {
        if key != self.name || self.seen.is_some() {
            return Err(Refused);
        }
        *self.seen = Some(self.name);
        Ok(())
    }

    fn end(self) -> Result<(), Refused> {
        Ok(())
    }
}
