//! Runs that outlive their connection and the daemon (`runs.reattach.v1`): resume
//! tokens, the `detached` state and its grace, and the record of which actions of
//! which proposals are already journalled, so a re-submitted proposal runs only the rest.

use std::collections::HashMap;
use std::hash::BuildHasher;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::RunsError;

/// Which actions of which proposals are journalled, and at which record, by keyed
/// 64-bit fingerprints of their ids: 60-85 bytes a turn (measured), however long the
/// client's ids are. A fingerprint found is only a candidate: the caller reads the
/// turn at that record and checks its ids (`proposal.rs` `recorded_turn`). The key is
/// random per run, so a client cannot aim two ids at one fingerprint.
#[derive(Default)]
pub(crate) struct Recorded {
    key: std::hash::RandomState,
    /// proposal fingerprint → its actions (the keys are already keyed hashes).
    proposals: HashMap<u64, Actions, foldhash::fast::FixedState>,
}

/// A proposal's journalled actions: most proposals have one, kept without a map.
enum Actions {
    One(u64, u32),
    /// Boxed: a map inline would make every proposal's slot 40 bytes rather than 16.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<u64, u32, foldhash::fast::FixedState>>),
}

impl Recorded {
    pub(crate) fn insert(&mut self, proposal_id: &str, action_id: &str, seq: u32) {
        let (proposal, action) = (self.key.hash_one(proposal_id), self.key.hash_one(action_id));
        let Some(actions) = self.proposals.get_mut(&proposal) else {
            self.proposals.insert(proposal, Actions::One(action, seq));
            return;
        };
        match actions {
            Actions::One(id, old) if *id == action => *old = seq,
            Actions::One(id, old) => {
                let many = HashMap::from_iter([(*id, *old), (action, seq)]);
                *actions = Actions::Many(Box::new(many));
            }
            Actions::Many(many) => {
                many.insert(action, seq);
            }
        }
    }

    /// The record that may hold this action's turn (its ids still to be checked).
    pub(crate) fn seq(&self, proposal_id: &str, action_id: &str) -> Option<u32> {
        let action = self.key.hash_one(action_id);
        match self.proposals.get(&self.key.hash_one(proposal_id))? {
            Actions::One(id, seq) => (*id == action).then_some(*seq),
            Actions::Many(many) => many.get(&action).copied(),
        }
    }

    /// Some action of this proposal was journalled before: it is being submitted again.
    /// (Wrong only if two of the run's proposal ids share a 64-bit keyed fingerprint.)
    pub(crate) fn seen(&self, proposal_id: &str) -> bool {
        self.proposals.contains_key(&self.key.hash_one(proposal_id))
    }

    pub(crate) fn clear(&mut self) {
        self.proposals = HashMap::default();
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
