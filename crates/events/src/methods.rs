//! `events.subscribe`, `events.unsubscribe`, `events.recent`.

use std::sync::Arc;

use tether_core::{Principal, Registry, RpcError};
use tether_proto::events::{Recent, Subscribe, SubscribeResult, Unsubscribe, UnsubscribeResult};

use crate::EventBus;

const RECENT_MAX: usize = 1024;

pub fn register(registry: &mut Registry, bus: Arc<EventBus>) {
    let b = bus.clone();
    registry.register::<Subscribe, _, _>(move |cx, params| {
        let b = b.clone();
        async move { Ok(SubscribeResult { subscription: b.subscribe(&cx, params) }) }
    });
    let b = bus.clone();
    registry.register::<Unsubscribe, _, _>(move |cx, params| {
        let b = b.clone();
        async move { Ok(UnsubscribeResult { ok: b.unsubscribe(cx.connection_id(), &params.subscription) }) }
    });
    let b = bus.clone();
    registry.register::<Recent, _, _>(move |cx, params| {
        let b = b.clone();
        async move {
            let limit = params.limit.unwrap_or(100);
            if !(1..=RECENT_MAX).contains(&limit) {
                return Err(RpcError::InvalidParams(format!("params.limit: {limit} is outside 1..={RECENT_MAX}")));
            }
            let principal = cx.principal().unwrap_or(Principal::Operator);
            Ok(b.recent(&principal, limit, params.families.as_deref()))
        }
    });
    registry.on_close(move |connection| bus.connection_closed(connection));
}
