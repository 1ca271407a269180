//! The built-in methods every connection has: `session.auth`, `server.*`, `rpc.discover`.

mod server;
mod session;

use tether_proto::rpc::Discover;

use crate::registry::{Phase, Registry};

pub(crate) fn register(registry: &mut Registry) {
    session::register(registry);
    server::register(registry);
    registry
        .register_in::<Discover, _, _>(Phase::Handshake, |cx, _| {
            let document = crate::discover::openrpc_document(cx.registry());
            async move { Ok(document) }
        })
        .reads();
}
