//! Timestamps on the wire: RFC 3339, UTC.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

pub fn format(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("UTC timestamps always format")
}

/// A moment taken with `SystemTime::now()`, rendered when it is read.
pub fn of_system(t: std::time::SystemTime) -> String {
    format(OffsetDateTime::from(t))
}

pub fn parse(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// When a ULID was minted.
pub fn of_ulid(id: ulid::Ulid) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(id.timestamp_ms() as i128 * 1_000_000).map(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let now = super::now();
        assert!(now.ends_with('Z'));
        assert_eq!(super::format(super::parse(&now).unwrap()), now);
        assert!(super::of_ulid(crate::new_id()).starts_with(&now[..4]));
        assert!(super::of_system(std::time::SystemTime::now()).starts_with(&now[..4]));
    }
}
