//! Following a session's output live: `sessions.follow` streams what the process
//! writes to its log as `sessions.output.event`, with consecutive offsets, and
//! ends with `sessions.output.end` once it stops running and all it wrote is sent.
//! The child writes its log directly (so output outlives a daemon restart), so the
//! stream watches the file: it reads what is new, and waits 100 ms when nothing is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tether_core::{Context, PeerExt};
use tether_proto::sessions::{
    FollowParams, FollowResult, OutputEnd, OutputEndMessage, OutputEvent, OutputEventMessage, OutputParams,
    SessionState, UnfollowResult,
};

use crate::error::SessionsError;
use crate::manager::Sessions;

const IDLE: Duration = Duration::from_millis(100);

impl Sessions {
    pub fn follow(self: &Arc<Self>, cx: &Context, params: FollowParams) -> Result<FollowResult, SessionsError> {
        let managed = self.get(&params.session_id)?;
        let connection = cx.connection_id();
        let end = std::fs::metadata(self.store.log_path(&params.session_id)).map_or(0, |m| m.len());
        let offset = params.since_offset.unwrap_or(end).min(end);
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut follows = self.follows.lock();
            let max = self.config.max_follows;
            let key = (connection, params.session_id.clone());
            if !follows.contains_key(&key) && follows.keys().filter(|(c, _)| *c == connection).count() >= max {
                return Err(SessionsError::Limit {
                    what: "too many output streams on this connection",
                    limit: "sessions.max_follows",
                    value: max,
                });
            }
            if let Some(previous) = follows.insert(key, stop.clone()) {
                previous.store(true, Ordering::Release);
            }
        }
        let this = self.clone();
        let cx = cx.clone();
        let session_id = params.session_id.clone();
        tokio::spawn(async move {
            let mut at = offset;
            let running = || matches!(managed.state(), SessionState::Provisioning | SessionState::Active);
            while !stop.load(Ordering::Acquire) && !cx.is_closed() {
                // The state is read before the log: output written before it stopped is still sent.
                let was_running = running();
                let read = OutputParams { session_id: session_id.clone(), tail_lines: None, since_offset: Some(at) };
                let Ok((start, out)) = this.read_log(read).await else { break };
                if !out.text.is_empty() {
                    let event = OutputEvent { session_id: session_id.clone(), offset: start, text: out.text };
                    if cx.notice::<OutputEventMessage>(&event, true).await.is_err() {
                        break;
                    }
                    at = out.next_offset;
                } else if !was_running {
                    let state = managed.state();
                    let end = OutputEnd { session_id: session_id.clone(), state };
                    let _ = cx.notice::<OutputEndMessage>(&end, false).await;
                    break;
                } else {
                    tokio::time::sleep(IDLE).await;
                }
            }
            let mut follows = this.follows.lock();
            if follows.get(&(connection, session_id.clone())).is_some_and(|s| Arc::ptr_eq(s, &stop)) {
                follows.remove(&(connection, session_id));
            }
        });
        Ok(FollowResult { session_id: params.session_id, offset })
    }

    pub fn unfollow(&self, connection: u64, session_id: &str) -> UnfollowResult {
        let stop = self.follows.lock().remove(&(connection, session_id.to_owned()));
        UnfollowResult { ok: stop.inspect(|s| s.store(true, Ordering::Release)).is_some() }
    }

    pub fn connection_closed(&self, connection: u64) {
        self.follows.lock().retain(|(c, _), stop| {
            if *c == connection {
                stop.store(true, Ordering::Release);
            }
            *c != connection
        });
    }
}
