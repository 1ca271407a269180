//! `events.subscribe`, `events.unsubscribe`, `events.recent`.

use std::sync::Arc;

use tether_core::{Registry, RpcError};
use tether_proto::events::{Recent, Subscribe, SubscribeParams, SubscribeResult, Unsubscribe, UnsubscribeResult};

use crate::EventBus;

const RECENT_MAX: usize = 1024;

pub fn register(registry: &mut Registry, bus: Arc<EventBus>) {
    registry.server_message::<tether_proto::events::EventMessage>();
    registry.server_message::<tether_proto::events::LaggedMessage>();
    registry.server_events(&tether_proto::events::Kind::ALL);
    registry
        .register_with::<Subscribe, _, _, _>(&bus, |b, cx, p| async move {
            Ok(SubscribeResult { subscription: b.subscribe(&cx, p)? })
        })
        .reads();
    registry
        .register_with::<Unsubscribe, _, _, _>(&bus, |b, cx, p| async move {
            Ok(UnsubscribeResult { ok: b.unsubscribe(cx.connection_id(), &p.subscription) })
        })
        .reads();
    registry
        .register_with::<Recent, _, _, _>(&bus, |b, cx, p| async move {
            let limit = p.limit.unwrap_or(100);
            if !(1..=RECENT_MAX).contains(&limit) {
                return Err(RpcError::InvalidParams(format!("params.limit: {limit} is outside 1..={RECENT_MAX}")));
            }
            let filter = SubscribeParams { families: p.families, session_id: p.session_id, run_id: p.run_id };
            b.check_filter(&filter)?;
            Ok(b.recent(cx.principal(), limit, &filter))
        })
        .reads();
    registry.on_close(move |connection| bus.connection_closed(connection));
}
