//! Thin handlers: decode (done by the registry), call `Runs`, map errors.

use std::sync::Arc;

use tether_core::{Registry, RpcError};
use tether_proto::{proposal, runs, tools};

use crate::Runs;

pub fn register(registry: &mut Registry, runs: Arc<Runs>) {
    registry.add_capability(runs::RESUME_CAPABILITY);

    let r = runs.clone();
    registry.register::<tools::Register, _, _>(move |cx, defs| {
        let r = r.clone();
        async move { Ok(r.connections.with(&cx, |c| c.tools.register(defs))?) }
    });
    let r = runs.clone();
    registry.register::<tools::List, _, _>(move |cx, _| {
        let r = r.clone();
        async move { Ok(r.connections.with(&cx, |c| c.tools.definitions())) }
    });
    let r = runs.clone();
    registry.register::<tools::Unregister, _, _>(move |cx, p| {
        let r = r.clone();
        async move {
            let removed = r.connections.with(&cx, |c| c.tools.unregister(&p.name));
            Ok(tools::UnregisterResult { removed })
        }
    });

    let r = runs.clone();
    registry.register::<runs::Start, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.start(&cx, p).await.map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<proposal::Submit, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.submit(&cx, p).await.map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::Complete, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.complete(&cx, p).await.map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::Cancel, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.cancel(&cx, p).await.map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::List, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.list(&cx, p).map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::GetTrace, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.trace(&cx, p).map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::Subscribe, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.subscribe(&cx, &p.run_id).await.map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::Unsubscribe, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.unsubscribe(&cx, &p.run_id).map_err(RpcError::from) }
    });
    let r = runs.clone();
    registry.register::<runs::Resume, _, _>(move |cx, p| {
        let r = r.clone();
        async move { r.resume(&cx, &p.run_id).map_err(RpcError::from) }
    });

    registry.on_close(move |conn| runs.connection_closed(conn));
}
