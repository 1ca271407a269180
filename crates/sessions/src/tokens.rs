//! Credentials scoped to one session: `tss_<session_id>_<secret>`, accepted by the
//! daemon's auth and bound to the agent `session:<session_id>`. Only a SHA-256 of
//! each secret is kept (in memory and on disk): a copy of the data directory
//! grants nothing. A new secret is made each time the session's process starts.

use parking_lot::Mutex;
use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tether_core::{AgentId, Authenticator, Grant};

#[derive(Default)]
pub struct SessionTokens(Mutex<HashMap<String, [u8; 32]>>);

impl SessionTokens {
    pub(crate) fn token(session_id: &str, secret: &str) -> String {
        format!("tss_{session_id}_{secret}")
    }

    /// Accepts tokens whose secret hashes to `hash` (hex) for this session.
    pub(crate) fn insert(&self, session_id: &str, hash: &str) {
        let Some(hash) = from_hex(hash) else {
            // A session that never started (or a record from before hashing) has no token.
            self.revoke(session_id);
            return;
        };
        self.0.lock().insert(session_id.to_owned(), hash);
    }

    pub(crate) fn revoke(&self, session_id: &str) {
        self.0.lock().remove(session_id);
    }
}

impl Authenticator for SessionTokens {
    fn verify(&self, token: &str) -> Option<Grant> {
        let (session_id, secret) = token.strip_prefix("tss_")?.split_once('_')?;
        let known = *self.0.lock().get(session_id)?;
        let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        bool::from(known.ct_eq(&presented))
            .then(|| Grant { agent_id: Some(AgentId::for_session(session_id)), ..Grant::default() })
    }
}

/// A new random secret and the hash (hex) that is stored in its place.
pub(crate) fn new_secret() -> std::io::Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    let secret = hex(&bytes);
    let hash = hex(&Sha256::digest(secret.as_bytes()));
    Ok((secret, hash))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_token_binds_its_agent_and_nothing_else_passes() {
        let tokens = SessionTokens::default();
        let (secret, hash) = new_secret().unwrap();
        assert_ne!(secret, hash);
        tokens.insert("01ABC", &hash);
        let grant = tokens.verify(&SessionTokens::token("01ABC", &secret)).unwrap();
        assert_eq!(grant.agent_id.as_ref().map(AgentId::as_str), Some("session:01ABC"));
        assert!(tokens.verify(&SessionTokens::token("01ABC", "wrong")).is_none());
        assert!(tokens.verify(&SessionTokens::token("01ABC", &hash)).is_none(), "the stored hash is no token");
        assert!(tokens.verify(&SessionTokens::token("01XYZ", &secret)).is_none());
        assert!(tokens.verify(&secret).is_none());
        tokens.revoke("01ABC");
        assert!(tokens.verify(&SessionTokens::token("01ABC", &secret)).is_none());
    }
}
