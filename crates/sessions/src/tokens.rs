//! Credentials scoped to one session: `tss_<session_id>_<secret>`, accepted by the
//! daemon's auth and bound to the agent `session:<session_id>`.

use std::collections::HashMap;
use std::sync::Mutex;

use subtle::ConstantTimeEq;
use tether_core::{Authenticator, Grant};

#[derive(Default)]
pub struct SessionTokens(Mutex<HashMap<String, String>>);

impl SessionTokens {
    pub(crate) fn token(session_id: &str, secret: &str) -> String {
        format!("tss_{session_id}_{secret}")
    }

    pub(crate) fn insert(&self, session_id: &str, secret: &str) {
        self.0.lock().unwrap().insert(session_id.to_owned(), secret.to_owned());
    }

    pub(crate) fn revoke(&self, session_id: &str) {
        self.0.lock().unwrap().remove(session_id);
    }
}

impl Authenticator for SessionTokens {
    fn verify(&self, token: &str) -> Option<Grant> {
        let (session_id, secret) = token.strip_prefix("tss_")?.split_once('_')?;
        let known = self.0.lock().unwrap().get(session_id).cloned()?;
        bool::from(known.as_bytes().ct_eq(secret.as_bytes()))
            .then(|| Grant { agent_id: Some(format!("session:{session_id}")) })
    }
}

pub(crate) fn new_secret() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_token_binds_its_agent_and_nothing_else_passes() {
        let tokens = SessionTokens::default();
        tokens.insert("01ABC", "s3cret");
        let grant = tokens.verify(&SessionTokens::token("01ABC", "s3cret")).unwrap();
        assert_eq!(grant.agent_id.as_deref(), Some("session:01ABC"));
        assert!(tokens.verify(&SessionTokens::token("01ABC", "wrong")).is_none());
        assert!(tokens.verify(&SessionTokens::token("01XYZ", "s3cret")).is_none());
        assert!(tokens.verify("s3cret").is_none());
        tokens.revoke("01ABC");
        assert!(tokens.verify(&SessionTokens::token("01ABC", "s3cret")).is_none());
    }
}
