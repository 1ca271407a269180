//! What a request proves about its sender before any frame is read: a bearer token from
//! the `Authorization` header or, for a browser (which cannot set headers on a
//! WebSocket), from a `Sec-WebSocket-Protocol` value; and the agent it binds with
//! `X-Tether-Agent` (or the subprotocol twin). Authenticating here keeps a client out of
//! the unauthenticated pool, which strangers can fill; only clients that choose frame
//! auth (`session.auth`, as CAR's do) wait there.

use data_encoding::BASE64URL_NOPAD;
use tether_core::{AgentId, Authenticator, BindError, Grant, bind_agent};

use crate::http::RequestHead;

/// The subprotocol the server selects whenever a client offers it. A browser fails a
/// handshake whose answer names no protocol it offered, so a browser that passes its
/// credential as a protocol value offers this one alongside.
pub(crate) const PROTOCOL: &str = "tether.v1";
/// `tether.bearer.<base64url token>`: the token, for clients that cannot set headers.
/// (Kubernetes does the same with `base64url.bearer.authorization.k8s.io.<token>`.)
const BEARER_PREFIX: &str = "tether.bearer.";
/// `tether.agent.<base64url agent id>`: `X-Tether-Agent` for clients that cannot set headers.
const AGENT_PREFIX: &str = "tether.agent.";
const AGENT_HEADER: &str = "x-tether-agent";

/// What the request proved, and the subprotocol the 101 must select.
#[derive(Debug, Default)]
pub(crate) struct Proven {
    /// `None`: no credential was presented (or auth is off and no agent was named).
    pub grant: Option<Grant>,
    pub protocol: Option<&'static str>,
}

type Refusal = (u16, String);

/// Reads the credential and agent of a request and checks them. With auth off a named
/// agent still binds the connection, as `session.auth` with an `agent_id` does.
/// An agent id longer than `max_agent` (`limits.names.agent`) is refused with 400.
pub(crate) fn prove(
    head: &RequestHead,
    authenticator: Option<&dyn Authenticator>,
    max_agent: usize,
) -> Result<Proven, Refusal> {
    let offered = Offered::read(head)?;
    let token = one_of("a bearer token", bearer_header(head)?, offered.token)?;
    let agent = one_of("an agent", head.header(AGENT_HEADER).map(str::to_owned), offered.agent)?;
    let protocol = offered.tether.then_some(PROTOCOL);
    if let Some(agent) = &agent
        && agent.len() > max_agent
    {
        return Err((400, format!("the agent id is {} bytes, over limits.names.agent ({max_agent})", agent.len())));
    }
    let asked = agent.map(AgentId::new);
    let Some(authenticator) = authenticator else {
        let agent_id = bind_agent(None, asked).map_err(refusal)?;
        let grant = agent_id.map(|agent_id| Grant { agent_id: Some(agent_id), ..Grant::default() });
        return Ok(Proven { grant, protocol });
    };
    let Some(token) = token else {
        if asked.is_some() {
            return Err((401, "X-Tether-Agent needs `Authorization: Bearer <token>`".to_owned()));
        }
        return Ok(Proven { grant: None, protocol });
    };
    let mut grant = authenticator.verify(&token).ok_or((401, "invalid token".to_owned()))?;
    // The same rule, and the same words, as `session.auth` with an `agent_id`.
    grant.agent_id = bind_agent(grant.agent_id.take(), asked).map_err(refusal)?;
    Ok(Proven { grant: Some(grant), protocol })
}

fn refusal(error: BindError) -> Refusal {
    match error {
        BindError::Empty => (400, "X-Tether-Agent must not be empty".to_owned()),
        other @ BindError::OtherAgent { .. } => (403, other.to_string()),
    }
}

fn one_of(what: &str, header: Option<String>, protocol: Option<String>) -> Result<Option<String>, Refusal> {
    match (header, protocol) {
        (Some(_), Some(_)) => Err((400, format!("{what} both in a header and in Sec-WebSocket-Protocol"))),
        (header, protocol) => Ok(header.or(protocol)),
    }
}

/// `Authorization: Bearer <token>`, if present.
fn bearer_header(head: &RequestHead) -> Result<Option<String>, Refusal> {
    let Some(value) = head.header("authorization") else { return Ok(None) };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or((401, "authorization must be `Bearer <token>`".to_owned()))?;
    Ok(Some(token.trim().to_owned()))
}

/// The `Sec-WebSocket-Protocol` values a client offered that concern tether.
#[derive(Default)]
struct Offered {
    tether: bool,
    token: Option<String>,
    agent: Option<String>,
}

impl Offered {
    fn read(head: &RequestHead) -> Result<Offered, Refusal> {
        let mut offered = Offered::default();
        let values = head.headers("sec-websocket-protocol").flat_map(|v| v.split(',')).map(str::trim);
        for value in values {
            if value == PROTOCOL {
                offered.tether = true;
            } else if let Some(encoded) = value.strip_prefix(BEARER_PREFIX) {
                set_once(&mut offered.token, decode(encoded, BEARER_PREFIX)?, BEARER_PREFIX)?;
            } else if let Some(encoded) = value.strip_prefix(AGENT_PREFIX) {
                set_once(&mut offered.agent, decode(encoded, AGENT_PREFIX)?, AGENT_PREFIX)?;
            }
        }
        if (offered.token.is_some() || offered.agent.is_some()) && !offered.tether {
            let why = format!("offer the {PROTOCOL:?} subprotocol with a credential in Sec-WebSocket-Protocol");
            return Err((400, why));
        }
        Ok(offered)
    }
}

fn set_once(slot: &mut Option<String>, value: String, prefix: &str) -> Result<(), Refusal> {
    if slot.replace(value).is_some() {
        return Err((400, format!("more than one {prefix}* subprotocol")));
    }
    Ok(())
}

fn decode(encoded: &str, prefix: &str) -> Result<String, Refusal> {
    let bad = || (400, format!("{prefix}* must be followed by unpadded base64url of UTF-8"));
    let bytes = BASE64URL_NOPAD.decode(encoded.as_bytes()).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tether_core::StaticToken;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead::for_test("GET", "/", headers)
    }

    fn b64(text: &str) -> String {
        BASE64URL_NOPAD.encode(text.as_bytes())
    }

    fn agent_of(proven: &Proven) -> Option<&str> {
        proven.grant.as_ref().and_then(|g| g.agent_id.as_ref()).map(AgentId::as_str)
    }

    #[test]
    fn a_header_or_a_subprotocol_carries_the_token_and_the_agent() {
        let auth = StaticToken::new("secret");
        let proven = prove(&head(&[("authorization", "Bearer secret"), ("x-tether-agent", "alice")]), Some(&auth), 256);
        assert_eq!(agent_of(&proven.unwrap()), Some("alice"));
        let protocols = format!("tether.v1, tether.bearer.{}, tether.agent.{}", b64("secret"), b64("bob"));
        let proven = prove(&head(&[("sec-websocket-protocol", &protocols)]), Some(&auth), 256).unwrap();
        assert_eq!((agent_of(&proven), proven.protocol), (Some("bob"), Some(PROTOCOL)));
        let plain = prove(&head(&[("sec-websocket-protocol", "tether.v1")]), Some(&auth), 256).unwrap();
        assert!(plain.grant.is_none() && plain.protocol == Some(PROTOCOL), "frame auth still possible");
    }

    #[test]
    fn ambiguous_or_malformed_credentials_are_refused() {
        let auth = StaticToken::new("secret");
        let refused = |headers: &[(&str, &str)]| prove(&head(headers), Some(&auth), 256).unwrap_err();
        let bearer = format!("tether.bearer.{}", b64("secret"));
        assert_eq!(refused(&[("sec-websocket-protocol", &bearer)]).0, 400, "without tether.v1");
        let both = format!("tether.v1, {bearer}");
        assert_eq!(refused(&[("authorization", "Bearer secret"), ("sec-websocket-protocol", &both)]).0, 400);
        assert_eq!(refused(&[("sec-websocket-protocol", "tether.v1, tether.bearer.!!")]).0, 400);
        assert_eq!(refused(&[("authorization", "Bearer wrong")]), (401, "invalid token".to_owned()));
        assert_eq!(refused(&[("x-tether-agent", "alice")]).0, 401, "an agent without a token");
        assert_eq!(refused(&[("authorization", "Bearer secret"), ("x-tether-agent", "")]).0, 400);
    }

    #[test]
    fn a_session_token_binds_its_own_agent_and_refuses_another() {
        struct Session;
        impl Authenticator for Session {
            fn verify(&self, token: &str) -> Option<Grant> {
                (token == "tst_1").then(|| Grant { agent_id: Some(AgentId::new("session:1")), ..Grant::default() })
            }
        }
        let own = prove(&head(&[("authorization", "Bearer tst_1")]), Some(&Session), 256).unwrap();
        assert_eq!(agent_of(&own), Some("session:1"));
        let named =
            prove(&head(&[("authorization", "Bearer tst_1"), ("x-tether-agent", "session:1")]), Some(&Session), 256);
        assert_eq!(agent_of(&named.unwrap()), Some("session:1"));
        let other = prove(&head(&[("authorization", "Bearer tst_1"), ("x-tether-agent", "eve")]), Some(&Session), 256);
        assert_eq!(other.unwrap_err(), (403, r#"this token is bound to agent "session:1", not "eve""#.to_owned()));
    }

    #[test]
    fn with_auth_off_a_named_agent_still_binds() {
        let proven = prove(&head(&[("x-tether-agent", "alice")]), None, 256).unwrap();
        assert_eq!(agent_of(&proven), Some("alice"));
        assert!(prove(&head(&[]), None, 256).unwrap().grant.is_none());
        let long = "a".repeat(257);
        let refused = prove(&head(&[("x-tether-agent", &long)]), None, 256).unwrap_err();
        assert_eq!(refused.0, 400);
        assert!(refused.1.contains("limits.names.agent"), "{}", refused.1);
    }
}
