//! Who is on the other end of a connection.

use subtle::ConstantTimeEq;

/// The authenticated identity of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Authenticated with no agent binding: may see everything.
    Operator,
    /// Bound to one agent: may see only that agent's runs and sessions.
    Agent(String),
}

impl Principal {
    pub fn agent_id(&self) -> Option<&str> {
        match self {
            Principal::Operator => None,
            Principal::Agent(id) => Some(id),
        }
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    /// `Some` for a token scoped to one agent (e.g. a managed session's token).
    pub agent_id: Option<String>,
}

/// Checks bearer tokens. Implementations must compare in constant time.
pub trait Authenticator: Send + Sync + 'static {
    fn verify(&self, token: &str) -> Option<Grant>;
}

/// The daemon's single operator token.
pub struct StaticToken(String);

impl StaticToken {
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(token.into())
    }
}

impl Authenticator for StaticToken {
    fn verify(&self, token: &str) -> Option<Grant> {
        bool::from(self.0.as_bytes().ct_eq(token.as_bytes())).then(Grant::default)
    }
}

/// Accepts a token any of several authenticators accepts (the operator's, sessions').
pub struct AnyOf(pub Vec<std::sync::Arc<dyn Authenticator>>);

impl Authenticator for AnyOf {
    fn verify(&self, token: &str) -> Option<Grant> {
        self.0.iter().find_map(|a| a.verify(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_token_accepts_only_the_exact_token() {
        let auth = StaticToken::new("secret");
        assert_eq!(auth.verify("secret"), Some(Grant::default()));
        assert_eq!(auth.verify("secre"), None);
        assert_eq!(auth.verify("secret2"), None);
        assert_eq!(auth.verify(""), None);
    }
}
