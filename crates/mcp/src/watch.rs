//! Resource subscriptions over `tether mcp` (stdio): 2025-11-25's `resources/subscribe`
//! and 2026-07-28's `subscriptions/listen`, both answered with
//! `notifications/resources/updated` when the daemon's events say a watched resource
//! changed. The events come from one `events.subscribe` on the bridge's own connection,
//! made when `tether mcp` starts, so the daemon's visibility rules decide what an identity
//! hears of (a session's token hears of its own runs only). A notification says only
//! "read it again": the client reads the resource through its method as before.
//!
//! A connection may watch at most `[mcp] max_subscriptions` resources at once (each
//! subscribed URI, each URI of each open listen); past it a watch is refused, naming
//! the limit. `/mcp` offers no subscriptions: it is stateless and answers JSON, so
//! there is no stream a notification could travel on (see ARCHITECTURE).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::ErrorData as McpError;
use rmcp::Peer;
use rmcp::RoleServer;
use rmcp::model::{ResourceUpdatedNotification, ResourceUpdatedNotificationParam, ServerNotification};
use rmcp::service::SubscriptionSink;
use serde_json::json;
use tether_proto::events::{EVENT, Event, EventNotice, Family, LAGGED};
use tokio::sync::OnceCell;

/// Where a watcher's notifications go.
#[derive(Clone)]
enum Target {
    /// `resources/subscribe`: the peer, for each URI subscribed.
    Peer(Peer<RoleServer>),
    /// `subscriptions/listen`: that request's sink.
    Listen(SubscriptionSink),
}

pub struct Watches {
    client: tether_client::Client,
    limit: usize,
    /// Watchers by id: their URIs and where to tell.
    watchers: Mutex<HashMap<u64, (Vec<String>, Target)>>,
    next: Mutex<u64>,
    /// The daemon's event stream, opened on the first watch.
    pump: OnceCell<()>,
}

/// The id of a `resources/subscribe` watcher (one per connection; `listen`s get their own).
const SUBSCRIBED: u64 = 0;

impl Watches {
    pub fn new(client: tether_client::Client, limit: usize) -> Arc<Watches> {
        Arc::new(Watches { client, limit, watchers: Mutex::default(), next: Mutex::new(1), pump: OnceCell::new() })
    }

    /// `resources/subscribe`: adds `uri` (once) to the connection's subscriptions.
    pub(crate) async fn subscribe(self: &Arc<Self>, uri: &str, peer: Peer<RoleServer>) -> Result<(), McpError> {
        self.start().await?;
        let mut watchers = self.watchers.lock().expect("not poisoned");
        let already = watchers.get(&SUBSCRIBED).is_some_and(|(uris, _)| uris.iter().any(|u| u == uri));
        if already {
            return Ok(());
        }
        self.fits(&watchers, 1)?;
        let entry = watchers.entry(SUBSCRIBED).or_insert_with(|| (Vec::new(), Target::Peer(peer)));
        entry.0.push(uri.to_owned());
        Ok(())
    }

    pub(crate) fn unsubscribe(&self, uri: &str) {
        if let Some((uris, _)) = self.watchers.lock().expect("not poisoned").get_mut(&SUBSCRIBED) {
            uris.retain(|u| u != uri);
        }
    }

    /// `subscriptions/listen`: watches `uris` until the returned guard is dropped.
    pub(crate) async fn listen(
        self: &Arc<Self>,
        uris: Vec<String>,
        sink: SubscriptionSink,
    ) -> Result<Listening, McpError> {
        self.start().await?;
        let mut watchers = self.watchers.lock().expect("not poisoned");
        self.fits(&watchers, uris.len())?;
        let id = {
            let mut next = self.next.lock().expect("not poisoned");
            *next += 1;
            *next
        };
        watchers.insert(id, (uris, Target::Listen(sink)));
        Ok(Listening { watches: self.clone(), id })
    }

    /// Whether `more` resources fit now (a listen that does not fit is acknowledged
    /// honouring nothing, and then refused naming the limit).
    pub(crate) fn check(&self, more: usize) -> Result<(), McpError> {
        self.fits(&self.watchers.lock().expect("not poisoned"), more)
    }

    fn fits(&self, watchers: &HashMap<u64, (Vec<String>, Target)>, more: usize) -> Result<(), McpError> {
        let watched: usize = watchers.values().map(|(uris, _)| uris.len()).sum();
        if watched + more > self.limit {
            let limit = self.limit;
            return Err(McpError::invalid_params(
                format!(
                    "this connection watches {watched} resources and may watch at most {limit} \
                     ([mcp] max_subscriptions = {limit}; `tether mcp --max-subscriptions`): unsubscribe first"
                ),
                Some(json!({"limit": "mcp.max_subscriptions", "value": limit, "watched": watched})),
            ));
        }
        Ok(())
    }

    /// Subscribes the bridge's connection to the daemon's events, once, and starts the
    /// task that turns them into notifications. `tether mcp` calls it before it serves:
    /// rmcp acknowledges a 2026-07-28 `subscriptions/listen` before its handler runs, so
    /// a subscription opened there could miss a change made right after the client
    /// heard the acknowledgment.
    pub async fn start(self: &Arc<Self>) -> Result<(), McpError> {
        self.pump
            .get_or_try_init(|| async {
                // The families that change a resource (not hooks' own feed, the busiest).
                let families = [Family::Status, Family::Checkpoint, Family::ApprovalRequired].map(Family::name);
                let params = json!({"families": families});
                self.client.call_raw("events.subscribe", params).await.map_err(|e| {
                    McpError::internal_error(format!("tether's events could not be subscribed to: {e}"), None)
                })?;
                let weak = Arc::downgrade(self);
                let client = self.client.clone();
                tokio::spawn(async move {
                    while let Some(notification) = client.next_notification().await {
                        let Some(watches) = weak.upgrade() else { return };
                        if notification.method == EVENT
                            && let Ok(notice) = serde_json::from_value::<EventNotice>(notification.params)
                        {
                            watches.tell(|uri| changed_by(&notice.event).iter().any(|c| c == uri)).await;
                        } else if notification.method == LAGGED {
                            // Events were dropped for this slow bridge: any watched resource
                            // may have changed unheard, so every watcher reads again.
                            watches.tell(|_| true).await;
                        }
                    }
                });
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Notifies every watcher of each of its URIs that `changed`.
    async fn tell(&self, changed: impl Fn(&str) -> bool) {
        let targets: Vec<(String, Target)> = {
            let watchers = self.watchers.lock().expect("not poisoned");
            watchers
                .values()
                .flat_map(|(uris, target)| uris.iter().filter(|u| changed(u)).map(move |u| (u.clone(), target.clone())))
                .collect()
        };
        for (uri, target) in targets {
            // A peer or listen that went away just misses it: it is unwatched on its way out.
            let _ = match target {
                Target::Peer(peer) => {
                    peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri)).await.map_err(drop)
                }
                Target::Listen(sink) => sink
                    .send(ServerNotification::ResourceUpdatedNotification(ResourceUpdatedNotification::new(
                        ResourceUpdatedNotificationParam::new(uri),
                    )))
                    .await
                    .map_err(drop),
            };
        }
    }
}

/// An open `subscriptions/listen`: unwatched when dropped (the listen ended or the
/// connection went).
pub(crate) struct Listening {
    watches: Arc<Watches>,
    id: u64,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.watches.watchers.lock().expect("not poisoned").remove(&self.id);
    }
}

/// The resources an event changes (the URIs a client may have subscribed to).
fn changed_by(event: &Event) -> Vec<String> {
    let mut changed = Vec::new();
    if let Some(run) = &event.run_id {
        changed.push(format!("tether://runs/{run}"));
        changed.push(format!("tether://runs/{run}/trace"));
    }
    // A session's record changes with its state, and lists the runs its harness starts.
    let session_changes = event.kind.starts_with("session.") || event.kind == "run.started";
    if let Some(session) = event.session_id.as_ref().filter(|_| session_changes) {
        changed.push(format!("tether://sessions/{session}"));
    }
    if event.kind.starts_with("approval.") {
        changed.push("tether://approvals/pending".to_owned());
    }
    changed
}

/// Whether `uri` names a resource that can be watched (one `resources/read` answers).
pub(crate) fn watchable(uri: &str) -> bool {
    crate::resources::route(uri).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(kind: &str, run: Option<&str>, session: Option<&str>) -> Event {
        Event {
            event_id: "E".into(),
            family: "runtime.status".into(),
            kind: kind.into(),
            timestamp: String::new(),
            session_id: session.map(str::to_owned),
            run_id: run.map(str::to_owned),
            agent_id: None,
            payload: Value::Null,
        }
    }

    #[test]
    fn events_change_the_resources_they_name() {
        assert_eq!(changed_by(&event("run.turn", Some("R"), None)), ["tether://runs/R", "tether://runs/R/trace"]);
        assert_eq!(changed_by(&event("session.running", None, Some("S"))), ["tether://sessions/S"]);
        assert!(changed_by(&event("run.started", Some("R"), Some("S"))).contains(&"tether://sessions/S".to_owned()));
        assert!(changed_by(&event("PreToolUse", None, Some("S"))).is_empty(), "a hook leaves the session as it is");
        assert_eq!(changed_by(&event("approval.resolved", None, None)), ["tether://approvals/pending"]);
    }
}
