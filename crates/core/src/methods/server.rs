//! `server.handshake` and `server.ping`.

use tether_proto::server::{Handshake, HandshakeParams, HandshakeResult, PROTOCOL_VERSION, Ping};
use tether_proto::session::IssuedCredential;

use crate::context::Context;
use crate::error::RpcError;
use crate::registry::{Phase, Registry};

pub(super) fn register(registry: &mut Registry) {
    registry
        .register_in::<Handshake, _, _>(Phase::Handshake, |cx, params| async move { handshake(&cx, params) })
        .reads();
    registry.register_in::<Ping, _, _>(Phase::Handshake, |_, _| async { Ok("pong".to_owned()) }).reads();
}

fn handshake(cx: &Context, params: HandshakeParams) -> Result<HandshakeResult, RpcError> {
    let client_max = params.protocol_version;
    let client_min = params.protocol_version_min.unwrap_or(client_max).min(client_max);
    if !(client_min..=client_max).contains(&PROTOCOL_VERSION) {
        return Err(RpcError::VersionMismatch {
            client_min,
            client_max,
            server_min: PROTOCOL_VERSION,
            server_max: PROTOCOL_VERSION,
        });
    }
    let supported = cx.registry().capabilities();
    let missing: Vec<String> =
        params.required_capabilities.iter().filter(|c| !supported.contains(*c)).cloned().collect();
    if !missing.is_empty() {
        return Err(RpcError::CapabilityUnsupported(missing));
    }
    let mut negotiated: Vec<String> = params
        .required_capabilities
        .into_iter()
        .chain(params.optional_capabilities)
        .filter(|c| supported.contains(c))
        .collect();
    negotiated.sort();
    negotiated.dedup();
    cx.complete_handshake(negotiated.clone());
    Ok(HandshakeResult {
        protocol_version: PROTOCOL_VERSION,
        server_protocol_version_min: PROTOCOL_VERSION,
        server_protocol_version_max: PROTOCOL_VERSION,
        server_version: crate::SERVER_VERSION.to_owned(),
        negotiated_capabilities: negotiated,
        read_only: cx.read_only(),
        credential: cx.issued().map(|c| IssuedCredential { token: c.token.clone(), expires_at: c.expires_at.clone() }),
    })
}
