//! Identifiers: ULIDs that also sort in creation order within one millisecond,
//! so "newest first" by id is true even for things made in the same instant.

use parking_lot::Mutex;
use ulid::{Generator, Ulid};

static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

/// A new ULID, strictly greater than every one this process made before.
pub fn new_id() -> Ulid {
    let mut generator = GENERATOR.lock();
    // Overflowing the 80 random bits within one millisecond is not a real
    // possibility; a plain ULID would still be unique.
    generator.get_or_insert_with(Generator::new).generate().unwrap_or_else(|_| Ulid::new())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_increase_even_within_a_millisecond() {
        let ids: Vec<_> = (0..10_000).map(|_| super::new_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
