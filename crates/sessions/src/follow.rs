//! Following a session's output live: `sessions.follow` streams what the process
//! writes to its log as `sessions.output.event`, with consecutive offsets, and
//! ends with `sessions.output.end` once it stops running and all it wrote is sent.
//! The child writes its log directly (so output outlives a daemon restart), so the
//! stream watches the file: it reads what is new, and waits 100 ms when nothing is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tether_core::{Caller, PeerExt};
use tether_proto::sessions::{
    FollowParams, FollowResult, OutputEnd, OutputEndMessage, OutputEvent, OutputEventMessage, OutputParams,
    SessionState, UnfollowResult,
};

use crate::error::SessionsError;
use crate::manager::Sessions;

const IDLE: Duration = Duration::from_millis(100);

/// One connection's output streams, by session: kept on the connection
/// (`Connection::state`), so its close drops them and stops every stream.
#[derive(Default)]
struct Follows(Mutex<HashMap<String, Arc<AtomicBool>>>);

impl Drop for Follows {
    fn drop(&mut self) {
        for stop in self.0.get_mut().values() {
            stop.store(true, Ordering::Release);
        }
    }
}

impl Sessions {
    pub fn follow(self: &Arc<Self>, caller: &Caller, params: FollowParams) -> Result<FollowResult, SessionsError> {
        let managed = self.get(&params.session_id)?;
        let end = std::fs::metadata(self.store.log_path(&params.session_id)).map_or(0, |m| m.len());
        let offset = params.since_offset.unwrap_or(end).min(end);
        let stop = Arc::new(AtomicBool::new(false));
        let follows = caller.connection().state(Follows::default);
        {
            let mut streams = follows.0.lock();
            let max = self.config.max_follows;
            if !streams.contains_key(&params.session_id) && streams.len() >= max {
                return Err(SessionsError::Limit {
                    what: "too many output streams on this connection",
                    limit: "sessions.max_follows",
                    value: max,
                });
            }
            if let Some(previous) = streams.insert(params.session_id.clone(), stop.clone()) {
                previous.store(true, Ordering::Release);
            }
        }
        let this = self.clone();
        let (connection, client) = (caller.connection().clone(), caller.client().clone());
        let follows: Weak<Follows> = Arc::downgrade(&follows);
        let session_id = params.session_id.clone();
        tokio::spawn(async move {
            let mut at = offset;
            let running = || matches!(managed.state(), SessionState::Provisioning | SessionState::Active);
            while !stop.load(Ordering::Acquire) && !connection.is_gone() {
                // The state is read before the log: output written before it stopped is still sent.
                let was_running = running();
                let read = OutputParams { session_id: session_id.clone(), tail_lines: None, since_offset: Some(at) };
                let Ok((start, out)) = this.read_log(read).await else { break };
                if !out.text.is_empty() {
                    let event = OutputEvent { session_id: session_id.clone(), offset: start, text: out.text };
                    if client.notice::<OutputEventMessage>(&event, true).await.is_err() {
                        break;
                    }
                    at = out.next_offset;
                } else if !was_running {
                    let state = managed.state();
                    let end = OutputEnd { session_id: session_id.clone(), state };
                    let _ = client.notice::<OutputEndMessage>(&end, false).await;
                    break;
                } else {
                    tokio::time::sleep(IDLE).await;
                }
            }
            let Some(follows) = follows.upgrade() else { return };
            let mut streams = follows.0.lock();
            if streams.get(&session_id).is_some_and(|s| Arc::ptr_eq(s, &stop)) {
                streams.remove(&session_id);
            }
        });
        Ok(FollowResult { session_id: params.session_id, offset })
    }

    pub fn unfollow(&self, caller: &Caller, session_id: &str) -> UnfollowResult {
        let stop = caller.connection().state(Follows::default).0.lock().remove(session_id);
        UnfollowResult { ok: stop.inspect(|s| s.store(true, Ordering::Release)).is_some() }
    }
}
