//! `console.login`: the operator mints a login code for a browser.

use std::sync::Arc;

use tether_core::{Registry, RpcError};
use tether_proto::console::{Login, LoginResult};

use crate::Logins;
use crate::logins::LoginError;

pub fn register(registry: &mut Registry, logins: Arc<Logins>) {
    registry
        .register_with::<Login, _, _, _>(&logins, |l, _, p| async move {
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
}
