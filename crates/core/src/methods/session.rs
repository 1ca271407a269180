//! `session.auth`: bind a connection to the operator or to one agent.

use tether_proto::session::{Auth, AuthParams, AuthResult, IssuedCredential};

use crate::auth::{AgentId, BindError, Principal, bind_agent};
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
    let mut lifetime = None;
    let bound = match cx.authenticator() {
        None => None,
        Some(authenticator) => {
            let grant =
                authenticator.verify(&params.token).ok_or_else(|| RpcError::AuthRequired("invalid token".into()))?;
            read_only = grant.read_only;
            credential = grant.credential;
            lifetime = grant.lifetime;
            grant.agent_id
        }
    };
    let agent_id = match bind_agent(bound, asked) {
        Ok(agent_id) => agent_id,
        Err(BindError::Empty) => return Err(RpcError::InvalidParams("params.agent_id: must not be empty".into())),
        Err(other) => return Err(RpcError::AuthRequired(other.to_string())),
    };
    cx.authenticate(agent_id.clone().map_or(Principal::Operator, Principal::Agent), read_only, lifetime)?;
    Ok(AuthResult {
        ok: true,
        auth_enabled: cx.authenticator().is_some(),
        agent_id: agent_id.map(AgentId::into_string),
        read_only,
        credential: credential.map(|c| IssuedCredential { token: c.token, expires_at: c.expires_at }),
    })
}
