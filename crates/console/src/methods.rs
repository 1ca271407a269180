//! `console.login`: the operator mints a login code for a browser; `console.logout`,
//! `console.sessions`, `console.revoke`: console sessions end on request.

use std::sync::Arc;

use tether_core::{Context, Registry, RpcError};
use tether_proto::console::{Login, LoginResult, Logout, LogoutResult, Revoke, RevokeResult, Sessions, SessionsResult};

use crate::Logins;
use crate::logins::LoginError;

pub fn register(registry: &mut Registry, logins: Arc<Logins>) {
    registry
        .register_with::<Login, _, _, _>(&logins, |l, cx, p| async move {
            // A console session would otherwise outlive its TTL and any revocation by
            // minting codes, and so new sessions, for itself.
            only_the_operator_token(&cx, "console.login")?;
            let code = l.mint(p.read_only).map_err(|e| match e {
                LoginError::TooManyCodes(max) => RpcError::limit(e.to_string(), "console.max_codes", max),
                LoginError::Random(_) => RpcError::Internal(e.to_string()),
            })?;
            let path = format!("/console/#code={}", code.code);
            Ok(LoginResult {
                url: format!("{}{path}", l.origin()),
                path,
                code: code.code,
                expires_at: tether_core::stamp::format(code.expires_at),
                read_only: code.read_only,
            })
        })
        .operator_only();
    registry
        .register_with::<Logout, _, _, _>(&logins, |l, cx, _| async move {
            let Some(lifetime) = cx.lifetime() else {
                return Err(RpcError::InvalidRequest(
                    "console.logout: this connection is not a console session".into(),
                ));
            };
            l.revoke(|id| id == lifetime.id);
            Ok(LogoutResult { session_id: lifetime.id })
        })
        .operator_only()
        // A read-only console may log out: ending one's own access changes nothing else.
        .reads();
    registry
        .register_with::<Sessions, _, _, _>(
            &logins,
            |l, _, _| async move { Ok(SessionsResult { sessions: l.sessions() }) },
        )
        .operator_only();
    registry
        .register_with::<Revoke, _, _, _>(&logins, |l, cx, p| async move {
            only_the_operator_token(&cx, "console.revoke")?;
            let revoked = match (p.session_id, p.all) {
                (None, true) => l.revoke(|_| true),
                (Some(session), false) => l.revoke(|id| id == session),
                _ => return Err(RpcError::InvalidParams("params: give session_id or all = true (one of them)".into())),
            };
            Ok(RevokeResult { revoked })
        })
        .operator_only();
}

/// Credentials are managed with the operator's own token, never with a credential
/// that expires (a console session) — it would otherwise outlive itself.
fn only_the_operator_token(cx: &Context, method: &str) -> Result<(), RpcError> {
    match cx.lifetime() {
        Some(_) => Err(RpcError::Denied(format!("{method} needs the operator token, not a console session"))),
        None => Ok(()),
    }
}
