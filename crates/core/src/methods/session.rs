//! `session.auth`: bind a connection to the operator or to one agent.

use tether_proto::session::{Auth, AuthParams, AuthResult, IssuedCredential};

use crate::auth::{AgentId, Principal};
use crate::context::Context;
use crate::error::RpcError;
use crate::registry::{Phase, Registry};

pub(super) fn register(registry: &mut Registry) {
    registry.register_in::<Auth, _, _>(Phase::Unauthenticated, |cx, params| async move { auth(&cx, params) }).reads();
}

fn auth(cx: &Context, params: AuthParams) -> Result<AuthResult, RpcError> {
    // The agent id becomes the connection's principal and is kept with every run it starts.
    cx.names().check_opt(crate::NameKind::Agent, "params.agent_id", params.agent_id.as_deref())?;
    let asked = params.agent_id.map(AgentId::new);
    let mut read_only = false;
    let mut credential = None;
    let agent_id = match cx.authenticator() {
        None => asked,
        Some(authenticator) => {
            let grant =
                authenticator.verify(&params.token).ok_or_else(|| RpcError::AuthRequired("invalid token".into()))?;
            read_only = grant.read_only;
            credential = grant.credential;
            match (grant.agent_id, asked) {
                (Some(bound), Some(asked)) if bound != asked => {
                    return Err(RpcError::AuthRequired(format!(
                        "this token is bound to agent {:?}, not {:?}",
                        bound.as_str(),
                        crate::excerpt(asked.as_str(), 64)
                    )));
                }
                (Some(bound), _) => Some(bound),
                (None, asked) => asked,
            }
        }
    };
    if agent_id.as_ref().is_some_and(|a| a.as_str().is_empty()) {
        return Err(RpcError::InvalidParams("params.agent_id: must not be empty".into()));
    }
    cx.authenticate(agent_id.clone().map_or(Principal::Operator, Principal::Agent), read_only)?;
    Ok(AuthResult {
        ok: true,
        auth_enabled: cx.authenticator().is_some(),
        agent_id: agent_id.map(AgentId::into_string),
        read_only,
        credential: credential.map(|c| IssuedCredential { token: c.token, expires_at: c.expires_at }),
    })
}
