//! Opaque pagination cursors: clients hand back what they were given.

use ulid::Ulid;

use crate::error::{RunsError, invalid};

/// Position in a run's trace: records before it come next (newest first).
pub(crate) fn trace(position: usize) -> String {
    format!("t{position:x}")
}

pub(crate) fn parse_trace(cursor: &str) -> Result<usize, RunsError> {
    cursor.strip_prefix('t').and_then(|hex| usize::from_str_radix(hex, 16).ok()).ok_or_else(not_ours)
}

/// The last run listed: older runs come next.
pub(crate) fn list(after: Ulid) -> String {
    format!("l{after}")
}

pub(crate) fn parse_list(cursor: &str) -> Result<Ulid, RunsError> {
    cursor.strip_prefix('l').and_then(|id| Ulid::from_string(id).ok()).ok_or_else(not_ours)
}

fn not_ours() -> RunsError {
    invalid("cursor", "not a cursor this server issued")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(parse_trace(&trace(300)).unwrap(), 300);
        let id = tether_core::new_id();
        assert_eq!(parse_list(&list(id)).unwrap(), id);
        assert!(parse_trace("300").is_err());
        assert!(parse_list("t12").is_err());
    }
}
