//! Who is on the other end of a connection, and the typed identities the domains use.

use std::fmt;

use subtle::ConstantTimeEq;

/// An agent's identity. A managed session's agent is `session:<session id>`; this
/// type is the one place that spelling is known.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(String);

const SESSION_PREFIX: &str = "session:";

impl AgentId {
    pub fn new(id: impl Into<String>) -> AgentId {
        AgentId(id.into())
    }

    /// The agent a managed session's token is bound to.
    pub fn for_session(session_id: &str) -> AgentId {
        AgentId(format!("{SESSION_PREFIX}{session_id}"))
    }

    /// The managed session this agent is, if it is one.
    pub fn session_id(&self) -> Option<&str> {
        self.0.strip_prefix(SESSION_PREFIX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for AgentId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// The authenticated identity of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Authenticated with no agent binding: may see and name everything.
    Operator,
    /// Bound to one agent: may see only that agent's runs and sessions, and is
    /// accounted as itself whatever a payload says.
    Agent(AgentId),
}

impl Principal {
    pub fn agent_id(&self) -> Option<&AgentId> {
        match self {
            Principal::Operator => None,
            Principal::Agent(id) => Some(id),
        }
    }

    /// The managed session this principal is, if it is one.
    pub fn session_id(&self) -> Option<&str> {
        self.agent_id().and_then(AgentId::session_id)
    }

    pub fn is_operator(&self) -> bool {
        matches!(self, Principal::Operator)
    }
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grant {
    /// `Some` for a token scoped to one agent (e.g. a managed session's token).
    pub agent_id: Option<AgentId>,
    /// The credential allows only methods declared as reads (`Registered::reads`).
    pub read_only: bool,
    /// A credential issued in exchange for a single-use token (a console login code),
    /// answered by `session.auth` so the client can authenticate again until it expires.
    pub credential: Option<Credential>,
    /// Set for a credential that ends (a console session): the connection it
    /// authenticated is closed when it does, however busy or open it is.
    pub lifetime: Option<Lifetime>,
}

/// How long a connection authenticated by an expiring credential may live.
#[derive(Debug, Clone)]
pub struct Lifetime {
    /// The issuer's name for the credential (a console session's id), for the methods
    /// that end it (`console.logout`) to find the caller's own.
    pub id: String,
    /// The credential expires here: its connections are closed then.
    pub until: std::time::Instant,
    /// Turns true when the issuer ends the credential early (logout, revocation).
    pub ended: tokio::sync::watch::Receiver<bool>,
}

impl PartialEq for Lifetime {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.until == other.until && self.ended.same_channel(&other.ended)
    }
}

impl Eq for Lifetime {}

impl Lifetime {
    /// Resolves when the credential expires or is ended.
    pub(crate) async fn over(&self) {
        let mut ended = self.ended.clone();
        tokio::select! {
            () = tokio::time::sleep_until(self.until.into()) => {}
            // An issuer that went away (its sender dropped) ended it too.
            _ = ended.wait_for(|ended| *ended) => {}
        }
    }
}

/// A credential issued by an [`Authenticator`] during `session.auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

impl Grant {
    pub fn principal(self) -> Principal {
        self.agent_id.map_or(Principal::Operator, Principal::Agent)
    }
}

/// Why a connection cannot become the agent it asked to be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The token is a session's, bound to another agent.
    #[error("this token is bound to agent {bound:?}, not {asked:?}")]
    OtherAgent { bound: String, asked: String },
    #[error("the agent id must not be empty")]
    Empty,
}

/// The agent a connection becomes: the one its token is bound to (a session's), else
/// the one it asks for (an operator token may act as any agent, as may anyone with auth
/// off), else none (the operator). `session.auth` and the upgrade's `X-Tether-Agent`
/// header both decide by this one rule, so the two ways in cannot disagree.
pub fn bind_agent(bound: Option<AgentId>, asked: Option<AgentId>) -> Result<Option<AgentId>, BindError> {
    let agent = match (bound, asked) {
        (Some(bound), Some(asked)) if bound != asked => {
            let asked = crate::excerpt(asked.as_str(), 64);
            return Err(BindError::OtherAgent { bound: bound.into_string(), asked });
        }
        (Some(bound), _) => Some(bound),
        (None, asked) => asked,
    };
    if agent.as_ref().is_some_and(|a| a.as_str().is_empty()) {
        return Err(BindError::Empty);
    }
    Ok(agent)
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

    #[test]
    fn an_agent_is_bound_by_its_token_or_by_asking() {
        let (alice, bob) = (AgentId::new("alice"), AgentId::new("bob"));
        assert_eq!(bind_agent(None, None), Ok(None));
        assert_eq!(bind_agent(None, Some(alice.clone())), Ok(Some(alice.clone())), "an operator token acts as anyone");
        assert_eq!(bind_agent(Some(alice.clone()), None), Ok(Some(alice.clone())), "a session token needs no name");
        assert_eq!(bind_agent(Some(alice.clone()), Some(alice.clone())), Ok(Some(alice.clone())));
        let refused = bind_agent(Some(alice), Some(bob)).unwrap_err();
        assert_eq!(refused.to_string(), r#"this token is bound to agent "alice", not "bob""#);
        assert_eq!(bind_agent(None, Some(AgentId::new(""))), Err(BindError::Empty));
    }

    #[test]
    fn a_session_agent_knows_its_session() {
        let agent = AgentId::for_session("01ABC");
        assert_eq!(agent.as_str(), "session:01ABC");
        assert_eq!(agent.session_id(), Some("01ABC"));
        assert_eq!(AgentId::new("alice").session_id(), None);
        assert_eq!(Principal::Agent(agent).session_id(), Some("01ABC"));
        assert_eq!(Principal::Operator.session_id(), None);
    }
}
