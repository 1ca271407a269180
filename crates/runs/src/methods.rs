//! Thin handlers: decode (done by the registry), hand `Runs` the narrow `Caller`, map errors.

use std::sync::Arc;

use tether_core::Registry;
use tether_proto::{proposal, runs, tools};

use crate::{Runs, RunsError};
use tether_store::StoreError;

pub fn register(registry: &mut Registry, runs: Arc<Runs>) {
    registry.add_capability(runs::RESUME_CAPABILITY);
    registry.add_capability(runs::PAGINATION_CAPABILITY);
    registry.add_capability(runs::REATTACH_CAPABILITY);
    registry.server_message::<tools::Execute>();
    registry.server_message::<tools::Cancel>();
    registry.server_message::<runs::TraceEventMessage>();
    registry.server_message::<runs::TraceLaggedMessage>();

    registry.register_with::<tools::Register, _, _, _>(&runs, |r, cx, defs| async move {
        Ok(r.register_tools(&cx.caller(), defs).await?)
    });
    registry
        .register_with::<tools::List, _, _, _>(&runs, |r, cx, _| async move { Ok(r.tools_of(&cx.caller())) })
        .reads();
    registry.register_with::<tools::Unregister, _, _, _>(&runs, |r, cx, p| async move {
        Ok(tools::UnregisterResult { removed: r.unregister_tool(&cx.caller(), &p.name) })
    });
    registry
        .register_with::<runs::Start, _, _, _>(&runs, |r, cx, p| async move { Ok(r.start(&cx.caller(), p).await?) });
    registry
        .register_with::<proposal::Submit, _, _, _>(&runs, |r, cx, p| async move {
            let submitted = r.submit(&cx.caller(), p).await;
            if let Err(RunsError::Store(StoreError::Fenced { run_id })) = &submitted {
                // Another node resumed the run: this socket is stale, its client moved on.
                cx.close_after_reply(format!("run {run_id} moved to another node"));
            }
            Ok(submitted?)
        })
        // Answered from the journal's thread the moment the last turn is durable.
        .answers_early();
    registry.register_with::<runs::Complete, _, _, _>(&runs, |r, cx, p| async move {
        Ok(r.complete(&cx.caller(), p).await?)
    });
    registry
        .register_with::<runs::Cancel, _, _, _>(&runs, |r, cx, p| async move { Ok(r.cancel(&cx.caller(), p).await?) });
    registry
        .register_with::<runs::List, _, _, _>(&runs, |r, cx, p| async move { Ok(r.list(&cx.caller(), p).await?) })
        .reads();
    registry
        .register_written::<runs::GetTrace, _, _, _>(
            &runs,
            |r, cx, p| async move { Ok(r.trace(&cx.caller(), p).await?) },
        )
        .reads();
    registry
        .register_written::<runs::Subscribe, _, _, _>(&runs, |r, cx, p| async move {
            Ok(r.subscribe(&cx.caller(), p).await?)
        })
        .reads();
    registry
        .register_with::<runs::Unsubscribe, _, _, _>(&runs, |r, cx, p| async move {
            Ok(r.unsubscribe(&cx.caller(), &p.run_id)?)
        })
        .reads();
    registry
        .register_with::<runs::Resume, _, _, _>(&runs, |r, cx, p| async move { Ok(r.resume(&cx.caller(), p).await?) });
    registry.register_with::<runs::Fork, _, _, _>(&runs, |r, cx, p| async move { Ok(r.fork(&cx.caller(), p).await?) });
    registry
        .register_with::<runs::Replay, _, _, _>(&runs, |r, cx, p| async move { Ok(r.replay(&cx.caller(), p).await?) });
    registry
        .register_with::<runs::Diff, _, _, _>(&runs, |r, cx, p| async move { Ok(r.diff(&cx.caller(), p).await?) })
        .reads();
    registry
        .register_with::<runs::Get, _, _, _>(&runs, |r, cx, p| async move { Ok(r.get_run(&cx.caller(), p).await?) })
        .reads();
    // No close hook: each connection's runs state lives on the connection and is
    // swept when it drops (`conn.rs`).
}
