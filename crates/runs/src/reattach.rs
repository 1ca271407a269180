//! Runs that outlive their connection and the daemon (`runs.reattach.v1`): resume
//! tokens, the `detached` state and its grace, and the record of which actions of
//! which proposals are already journalled, so a re-submitted proposal runs only the rest.

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::RunsError;

/// proposal id → action id → the record holding that action's turn (looked up by
/// `&str`, without allocating). Proposal ids are the client's: SipHash, deliberately.
#[derive(Default)]
pub(crate) struct Recorded(HashMap<String, Actions>);

/// A proposal's journalled actions: most proposals have one, kept without a map.
enum Actions {
    One(String, u32),
    Many(HashMap<String, u32>),
}

impl Recorded {
    pub(crate) fn insert(&mut self, proposal_id: &str, action_id: &str, seq: u32) {
        let Some(actions) = self.0.get_mut(proposal_id) else {
            self.0.insert(proposal_id.to_owned(), Actions::One(action_id.to_owned(), seq));
            return;
        };
        match actions {
            Actions::One(id, old) if id == action_id => *old = seq,
            Actions::One(id, old) => {
                let many = HashMap::from([(std::mem::take(id), *old), (action_id.to_owned(), seq)]);
                *actions = Actions::Many(many);
            }
            Actions::Many(many) => {
                many.insert(action_id.to_owned(), seq);
            }
        }
    }

    pub(crate) fn seq(&self, proposal_id: &str, action_id: &str) -> Option<u32> {
        match self.0.get(proposal_id)? {
            Actions::One(id, seq) => (id == action_id).then_some(*seq),
            Actions::Many(many) => many.get(action_id).copied(),
        }
    }

    /// Some action of this proposal was journalled before: it is being submitted again.
    pub(crate) fn seen(&self, proposal_id: &str) -> bool {
        self.0.contains_key(proposal_id)
    }

    pub(crate) fn clear(&mut self) {
        self.0 = HashMap::new();
    }
}

/// A new resume token and the hash (hex) journalled in its place.
pub(crate) fn new_token() -> Result<(String, String), RunsError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RunsError::Internal(format!("no randomness: {e}")))?;
    let token = format!("trt_{}", hex(&bytes));
    let hash = hex(&Sha256::digest(token.as_bytes()));
    Ok((token, hash))
}

pub(crate) fn parse_hash(hex_text: &str) -> Option<[u8; 32]> {
    if hex_text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex_text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(crate) fn matches(token: &str, hash: &[u8; 32]) -> bool {
    let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    bool::from(presented.ct_eq(hash))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_its_own_hash() {
        let (token, hash) = new_token().unwrap();
        let hash = parse_hash(&hash).unwrap();
        assert!(matches(&token, &hash));
        assert!(!matches(&format!("{token}x"), &hash));
        assert!(!matches("", &hash));
        assert!(parse_hash("zz").is_none());
    }

    #[test]
    fn recorded_actions_are_found_by_proposal_and_action() {
        let mut recorded = Recorded::default();
        recorded.insert("p1", "a1", 3);
        assert_eq!(recorded.seq("p1", "a1"), Some(3));
        assert_eq!(recorded.seq("p1", "a2"), None);
        assert!(recorded.seen("p1") && !recorded.seen("p2"));
    }

    #[test]
    fn a_proposals_second_action_keeps_its_first() {
        let mut recorded = Recorded::default();
        recorded.insert("p1", "a1", 3);
        recorded.insert("p1", "a1", 4);
        assert_eq!(recorded.seq("p1", "a1"), Some(4));
        recorded.insert("p1", "a2", 5);
        recorded.insert("p1", "a3", 6);
        assert_eq!(
            [recorded.seq("p1", "a1"), recorded.seq("p1", "a2"), recorded.seq("p1", "a3")],
            [Some(4), Some(5), Some(6)]
        );
        assert_eq!(recorded.seq("p1", "a4"), None);
    }
}
