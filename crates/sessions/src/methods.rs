//! Thin handlers. Changing sessions is the operator's; a session's own agent
//! (`session:<id>`) may read its own record and output.

use std::sync::Arc;

use tether_core::{Context, Principal, Registry};
use tether_proto::sessions;

use crate::Sessions;
use crate::error::SessionsError;

fn operator(cx: &Context, method: &'static str) -> Result<(), SessionsError> {
    if cx.is_operator() { Ok(()) } else { Err(SessionsError::OperatorOnly(method)) }
}

/// The session a caller may read: any for the operator, its own for a session agent.
fn readable(cx: &Context, id: &str) -> Result<(), SessionsError> {
    match cx.principal() {
        Some(Principal::Agent(agent)) if agent.strip_prefix("session:") != Some(id) => {
            Err(SessionsError::UnknownSession(id.to_owned()))
        }
        _ => Ok(()),
    }
}

pub fn register(registry: &mut Registry, sessions: Arc<Sessions>) {
    registry.register_with::<sessions::Spawn, _, _, _>(&sessions, |s, cx, p| async move {
        operator(&cx, "sessions.spawn")?;
        Ok(s.spawn(p).await?)
    });
    registry.register_with::<sessions::List, _, _, _>(&sessions, |s, cx, p| async move {
        let only = match cx.principal() {
            Some(Principal::Agent(agent)) => Some(agent.strip_prefix("session:").unwrap_or("\0").to_owned()),
            _ => None,
        };
        Ok(s.list(p.state, only.as_deref()))
    });
    registry.register_with::<sessions::Get, _, _, _>(&sessions, |s, cx, p| async move {
        readable(&cx, &p.session_id)?;
        Ok(s.get_record(&p.session_id)?)
    });
    registry.register_with::<sessions::Send, _, _, _>(&sessions, |s, cx, p| async move {
        operator(&cx, "sessions.send")?;
        Ok(sessions::SendResult { bytes: s.send(&p.session_id, &p.text).await? })
    });
    registry.register_with::<sessions::Output, _, _, _>(&sessions, |s, cx, p| async move {
        readable(&cx, &p.session_id)?;
        Ok(s.output(p).await?)
    });
    registry.register_with::<sessions::Stop, _, _, _>(&sessions, |s, cx, p| async move {
        operator(&cx, "sessions.stop")?;
        Ok(s.stop(&p.session_id, p.grace_ms).await?)
    });
    registry.register_with::<sessions::Resume, _, _, _>(&sessions, |s, cx, p| async move {
        operator(&cx, "sessions.resume")?;
        Ok(s.resume(&p.session_id).await?)
    });
    registry.register_with::<sessions::Remove, _, _, _>(&sessions, |s, cx, p| async move {
        operator(&cx, "sessions.remove")?;
        Ok(s.remove(&p.session_id, p.delete_workspace).await?)
    });
}
