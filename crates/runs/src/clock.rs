//! Timestamps on the wire: RFC 3339, UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) fn now() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).expect("UTC timestamps always format")
}

/// When a ULID was minted, as RFC 3339.
pub(crate) fn of_ulid(id: ulid::Ulid) -> String {
    let ms = id.timestamp_ms() as i128;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub(crate) fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}
