//! An event as the bus keeps it. The payload is serialised once, at publish, to the
//! text the ring, every subscriber and the relay share; the id and the time stay
//! binary until someone reads them. A run's every turn publishes one, mostly
//! read by nobody: building a `Value` tree and rendering strings for it was a
//! dozen allocations per turn (and as many frees when the ring let it go).

use std::borrow::Cow;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tether_proto::events::Event;
use ulid::Ulid;

use crate::Scope;

pub(crate) struct Stored {
    pub(crate) origin: Origin,
    pub(crate) family: Cow<'static, str>,
    pub(crate) kind: Cow<'static, str>,
    pub(crate) scope: Scope,
    /// Bounded to `events.max_payload_bytes` (about) before it is kept.
    pub(crate) payload: Box<RawValue>,
}

/// Where an event's id and time come from.
pub(crate) enum Origin {
    /// Published here: rendered when read.
    Minted { id: Ulid, at: SystemTime },
    /// Published by another daemon (relayed through a shared store), as it sent them.
    Relayed { id: String, at: String },
}

impl Origin {
    pub(crate) fn now() -> Origin {
        Origin::Minted { id: tether_core::new_id(), at: SystemTime::now() }
    }
}

impl Stored {
    /// Its size in the ring's byte budget: its payload's text.
    pub(crate) fn size(&self) -> usize {
        self.payload.get().len()
    }

    /// The wire form (`tether_proto::events::Event`).
    pub(crate) fn to_json(&self) -> Box<RawValue> {
        serde_json::value::to_raw_value(&self.wire()).expect("events serialize")
    }

    /// As `events.recent` answers it.
    pub(crate) fn to_event(&self) -> Event {
        let (event_id, timestamp) = self.rendered();
        Event {
            event_id: event_id.into_owned(),
            family: self.family.to_string(),
            kind: self.kind.to_string(),
            timestamp: timestamp.into_owned(),
            session_id: self.scope.session_id.as_deref().map(str::to_owned),
            run_id: self.scope.run_id.as_deref().map(str::to_owned),
            agent_id: self.scope.agent_id.as_deref().map(str::to_owned),
            // Text this bus wrote from a value, which reads back but for one nested
            // deeper than serde_json reads (128): that one is shown as its text.
            payload: serde_json::from_str(self.payload.get())
                .unwrap_or_else(|_| Value::String(self.payload.get().to_owned())),
        }
    }

    fn rendered(&self) -> (Cow<'_, str>, Cow<'_, str>) {
        match &self.origin {
            Origin::Minted { id, at } => (id.to_string().into(), tether_core::stamp::of_system(*at).into()),
            Origin::Relayed { id, at } => (id.as_str().into(), at.as_str().into()),
        }
    }

    fn wire(&self) -> Wire<'_> {
        let (event_id, timestamp) = self.rendered();
        Wire {
            event_id,
            family: &self.family,
            kind: &self.kind,
            timestamp,
            session_id: self.scope.session_id.as_deref(),
            run_id: self.scope.run_id.as_deref(),
            agent_id: self.scope.agent_id.as_deref(),
            payload: &self.payload,
        }
    }
}

/// `Event`'s wire form, field for field, borrowing the payload's text.
#[derive(Serialize)]
struct Wire<'a> {
    event_id: Cow<'a, str>,
    family: &'a str,
    kind: &'a str,
    timestamp: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    payload: &'a RawValue,
}

/// `payload` as text of about `limit` bytes at most: text over it is cut as
/// `tether_core::trim::bound` cuts a value (its shape kept, large fields trimmed).
pub(crate) fn bounded(payload: Box<RawValue>, limit: usize) -> Box<RawValue> {
    if payload.get().len() <= limit {
        return payload;
    }
    let Ok(value) = serde_json::from_str::<Value>(payload.get()) else { return payload };
    bounded_value(value, limit)
}

/// A payload given as a value, bounded, as text.
pub(crate) fn bounded_value(mut payload: Value, limit: usize) -> Box<RawValue> {
    tether_core::trim::bound(&mut payload, limit);
    serde_json::value::to_raw_value(&payload).expect("a value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(origin: Origin, scope: Scope) -> Stored {
        let payload = serde_json::value::to_raw_value(&serde_json::json!({"index": 3, "tool": "t"})).unwrap();
        Stored { origin, family: "runtime.checkpoint".into(), kind: "run.turn".into(), scope, payload }
    }

    #[test]
    fn the_wire_form_is_an_event_field_for_field() {
        let scope = Scope { session_id: None, run_id: Some("R".into()), agent_id: Some("alice".into()) };
        let event = stored(Origin::now(), scope);
        let json = event.to_json();
        let read: Event = serde_json::from_str(json.get()).unwrap();
        assert_eq!(read, event.to_event());
        assert_eq!(read.payload, serde_json::json!({"index": 3, "tool": "t"}));
        assert!(read.timestamp.ends_with('Z') && read.event_id.len() == 26, "{read:?}");
        let text: Value = serde_json::from_str(json.get()).unwrap();
        assert!(text.get("session_id").is_none(), "absent members are left out, as Event leaves them");
    }

    #[test]
    fn a_payload_too_deep_to_read_back_is_shown_as_its_text() {
        let deep = (0..200).fold(Value::from(1), |inner, _| Value::Array(vec![inner]));
        let payload = serde_json::value::to_raw_value(&deep).unwrap();
        let text = payload.get().to_owned();
        let event = Stored { payload, ..stored(Origin::now(), Scope::default()) };
        assert_eq!(event.to_event().payload, Value::String(text));
    }

    #[test]
    fn a_relayed_event_keeps_the_id_and_time_it_came_with() {
        let origin = Origin::Relayed { id: "01J0000000000000000000000X".into(), at: "2026-01-01T00:00:00Z".into() };
        let event = stored(origin, Scope::default()).to_event();
        assert_eq!(
            (event.event_id.as_str(), event.timestamp.as_str()),
            ("01J0000000000000000000000X", "2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_payload_over_the_limit_keeps_its_shape_and_loses_its_bulk() {
        let big = serde_json::json!({"name": "n", "input": "x".repeat(100_000)});
        let text = bounded(serde_json::value::to_raw_value(&big).unwrap(), 1024);
        assert!(text.get().len() < 2048, "{}", text.get().len());
        let value: Value = serde_json::from_str(text.get()).unwrap();
        assert_eq!(value["name"], "n");
        assert_eq!(value["input"]["original_bytes"], 100_000);
        let small = serde_json::value::to_raw_value(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(bounded(small, 1024).get(), r#"{"a":1}"#);
    }
}
