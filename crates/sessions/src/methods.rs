//! Thin handlers. Changing sessions is the operator's (declared at registration,
//! enforced by `core`); a session's own agent (`session:<id>`) may read its own
//! record and output.

use std::sync::Arc;

use tether_core::{Context, Registry};
use tether_proto::sessions;

use crate::Sessions;
use crate::error::SessionsError;

/// The session a caller may read: any for the operator, its own for a session agent.
fn readable(cx: &Context, id: &str) -> Result<(), SessionsError> {
    let principal = cx.principal();
    if principal.is_operator() || principal.session_id() == Some(id) {
        Ok(())
    } else {
        Err(SessionsError::UnknownSession(id.to_owned()))
    }
}

pub fn register(registry: &mut Registry, sessions: Arc<Sessions>) {
    registry.server_message::<sessions::OutputEventMessage>();
    registry.server_message::<sessions::OutputEndMessage>();
    registry
        .register_with::<sessions::Spawn, _, _, _>(&sessions, |s, _, p| async move { Ok(s.spawn(p).await?) })
        .operator_only();
    registry
        .register_with::<sessions::List, _, _, _>(&sessions, |s, cx, p| async move {
            // An agent that is no session sees none ("\0" names no session).
            let principal = cx.principal();
            let only = (!principal.is_operator()).then(|| principal.session_id().unwrap_or("\0"));
            Ok(s.list(p.state, only))
        })
        .reads();
    registry
        .register_with::<sessions::Get, _, _, _>(&sessions, |s, cx, p| async move {
            readable(&cx, &p.session_id)?;
            Ok(s.get_record(&p.session_id)?)
        })
        .reads();
    registry
        .register_with::<sessions::Send, _, _, _>(&sessions, |s, _, p| async move {
            Ok(sessions::SendResult { bytes: s.send(&p.session_id, &p.text).await? })
        })
        .operator_only();
    registry
        .register_with::<sessions::Output, _, _, _>(&sessions, |s, cx, p| async move {
            readable(&cx, &p.session_id)?;
            Ok(s.output(p).await?)
        })
        .reads();
    registry
        .register_with::<sessions::Follow, _, _, _>(&sessions, |s, cx, p| async move {
            readable(&cx, &p.session_id)?;
            Ok(s.follow(&cx.caller(), p)?)
        })
        .reads();
    registry
        .register_with::<sessions::Unfollow, _, _, _>(&sessions, |s, cx, p| async move {
            Ok(s.unfollow(&cx.caller(), &p.session_id))
        })
        .reads();
    registry
        .register_with::<sessions::Stop, _, _, _>(&sessions, |s, _, p| async move {
            Ok(s.stop(&p.session_id, p.grace_ms).await?)
        })
        .operator_only();
    registry
        .register_with::<sessions::Resume, _, _, _>(
            &sessions,
            |s, _, p| async move { Ok(s.resume(&p.session_id).await?) },
        )
        .operator_only();
    registry
        .register_with::<sessions::Remove, _, _, _>(&sessions, |s, _, p| async move {
            Ok(s.remove(&p.session_id, p.delete_workspace).await?)
        })
        .operator_only();
}
