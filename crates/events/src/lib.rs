//! The event stream. Domains publish every state change on one [`EventBus`];
//! subscribers get what their filter and their identity allow, through bounded
//! queues: a slow subscriber loses events (and is told how many), and never
//! blocks publishers, other subscribers, or replies on its own socket.

mod methods;
mod stored;

use parking_lot::Mutex;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
#[cfg(any(test, feature = "testing"))]
use serde_json::Value;
use serde_json::value::RawValue;
use tether_core::{Context, NameKind, Principal, RpcError};
use tether_proto::events::{EVENT, Event, LAGGED, LaggedNotice, Published, SubscribeParams};
use tokio::sync::mpsc;

use stored::{Origin, Stored};

pub use methods::register;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Events kept for `events.recent`.
    pub ring_size: usize,
    /// Bytes (of payload) the ring may hold; the oldest events go first.
    pub ring_bytes: usize,
    /// A payload larger than this (as JSON) keeps its shape, with large fields cut to head + tail.
    pub max_payload_bytes: usize,
    /// Events queued per subscriber before the overflow is dropped.
    pub subscriber_queue: usize,
    /// Event subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Families one subscription (or `events.recent` call) may filter on.
    pub max_filter_families: usize,
    /// The bounds on names (`[limits.names]`), filled by the assembly.
    #[serde(skip)]
    pub names: tether_core::NameLimits,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            ring_size: 1024,
            ring_bytes: 4 << 20,
            max_payload_bytes: 16 << 10,
            subscriber_queue: 256,
            max_subscriptions: 64,
            max_filter_families: 64,
            names: tether_core::NameLimits::default(),
        }
    }
}

/// Who and what an event concerns; decides who may see it. Shared text: each event
/// keeps its scope, and a run's events (one per turn) all share the run's.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub session_id: Option<Arc<str>>,
    pub run_id: Option<Arc<str>>,
    pub agent_id: Option<Arc<str>>,
}

/// Carries this node's events to other daemons (a shared store), as the JSON
/// the local subscribers get too (serialised once). `share` must never wait
/// (publishing never waits): false when it had to drop the event, which counts
/// in `dropped_total` like a slow subscriber's loss.
pub trait Relay: Send + Sync + 'static {
    fn share(&self, event: &RawValue) -> bool;
}

pub struct EventBus {
    config: EventsConfig,
    /// Where this node's events go beyond its own subscribers, if anywhere.
    relay: Option<Arc<dyn Relay>>,
    next: AtomicU64,
    /// Events slow subscribers lost, since start (for metrics).
    dropped: AtomicU64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    ring: VecDeque<Arc<Stored>>,
    /// The ring's payloads' bytes.
    ring_bytes: usize,
    /// Each connection with subscriptions: its forwarder and its subscriptions. A
    /// publish matches every subscription but sends once per connection, so what it
    /// does inline beyond comparisons grows with connections, not subscriptions.
    connections: HashMap<u64, Outlet>,
}

/// One connection's forwarder, which all its subscriptions feed.
struct Outlet {
    sender: mpsc::UnboundedSender<Delivery>,
    subscribers: Vec<Subscriber>,
}

struct Subscriber {
    id: u64,
    /// `sub-<id>`, as the client knows it: shared by every delivery, never re-formatted.
    name: Arc<str>,
    principal: Principal,
    filter: SubscribeParams,
    /// Events of this subscription queued in its connection's outlet: at most
    /// `subscriber_queue` (so an outlet holds at most that many per subscription).
    pending: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

/// One event for some of a connection's subscriptions, on its way to the forwarder.
struct Delivery {
    /// The event as JSON, serialised once per publish however many receive it.
    event: Arc<RawValue>,
    targets: Vec<Target>,
}

/// A subscription an event goes to.
struct Target {
    subscription: Arc<str>,
    pending: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
}

impl EventBus {
    pub fn new(config: EventsConfig) -> Arc<EventBus> {
        EventBus::with_relay(config, None)
    }

    /// A bus whose events also go to other daemons through `relay`.
    pub fn with_relay(config: EventsConfig, relay: Option<Arc<dyn Relay>>) -> Arc<EventBus> {
        Arc::new(EventBus {
            config,
            relay,
            next: AtomicU64::new(1),
            dropped: AtomicU64::new(0),
            inner: Mutex::default(),
        })
    }

    /// Publishes a typed event (`tether_proto::events::Published`) in each of its
    /// kind's families, in order; never waits. What every domain uses.
    pub fn emit(&self, event: Published, scope: Scope) {
        // Serialised once, straight from its type, however many families carry it.
        let payload = stored::bounded(event.payload_text(), self.config.max_payload_bytes);
        let kind = event.kind_name();
        let (last, rest) = event.kind().families().split_last().expect("every kind has a family");
        for family in rest {
            self.publish(family.name().into(), kind.clone(), scope.clone(), payload.clone());
        }
        self.publish(last.name().into(), kind, scope, payload);
    }

    /// Publishes an event (its payload bounded already) to the ring and every
    /// matching subscriber (and, with a relay, to the other daemons); never waits.
    /// Untyped, so private: every event outside this crate is a `Published`.
    fn publish(&self, family: Cow<'static, str>, kind: Cow<'static, str>, scope: Scope, payload: Box<RawValue>) {
        let event = Stored { origin: Origin::now(), family, kind, scope, payload };
        let json = self.relay.as_ref().map(|relay| {
            let json: Arc<RawValue> = event.to_json().into();
            if !relay.share(&json) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            json
        });
        self.deliver(Arc::new(event), json);
    }

    /// An event another daemon published (relayed through the shared store): to
    /// this node's ring and subscribers, not relayed again.
    pub fn inject(&self, event: Event) {
        let payload = stored::bounded_value(event.payload, self.config.max_payload_bytes);
        let scope = Scope {
            session_id: event.session_id.map(Arc::from),
            run_id: event.run_id.map(Arc::from),
            agent_id: event.agent_id.map(Arc::from),
        };
        let origin = Origin::Relayed { id: event.event_id, at: event.timestamp };
        let event = Stored { origin, family: event.family.into(), kind: event.kind.into(), scope, payload };
        self.deliver(Arc::new(event), None);
    }

    /// To the ring and every matching subscriber; `json` is the event serialised
    /// already, if it was (else it is serialised at the first subscriber).
    fn deliver(&self, event: Arc<Stored>, json: Option<Arc<RawValue>>) {
        let mut inner = self.inner.lock();
        inner.ring_bytes += event.size();
        inner.ring.push_back(event.clone());
        while inner.ring.len() > self.config.ring_size.max(1)
            || (inner.ring_bytes > self.config.ring_bytes && inner.ring.len() > 1)
        {
            let oldest = inner.ring.pop_front().expect("the ring is not empty");
            inner.ring_bytes -= oldest.size();
        }
        let mut json = json;
        // A connection whose forwarder is gone (it closed) is dropped here, whatever
        // order the close and the subscription happened in.
        let cap = self.config.subscriber_queue.max(1);
        inner.connections.retain(|_, outlet| {
            let mut targets = Vec::new();
            for subscriber in &outlet.subscribers {
                if !visible(&subscriber.principal, &event) || !matches(&subscriber.filter, &event) {
                    continue;
                }
                // Only the forwarder lowers `pending`, and publishers hold the bus lock.
                if subscriber.pending.fetch_add(1, Ordering::AcqRel) >= cap {
                    subscriber.pending.fetch_sub(1, Ordering::AcqRel);
                    subscriber.dropped.fetch_add(1, Ordering::Relaxed);
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                targets.push(Target {
                    subscription: subscriber.name.clone(),
                    pending: subscriber.pending.clone(),
                    dropped: subscriber.dropped.clone(),
                });
            }
            if targets.is_empty() {
                return !outlet.sender.is_closed();
            }
            let json = json.get_or_insert_with(|| event.to_json().into());
            outlet.sender.send(Delivery { event: json.clone(), targets }).is_ok()
        });
    }

    /// The newest `limit` visible events that match `filter`, oldest first.
    pub fn recent(&self, principal: &Principal, limit: usize, filter: &SubscribeParams) -> Vec<Event> {
        let inner = self.inner.lock();
        let mut out: Vec<Event> = inner
            .ring
            .iter()
            .rev()
            .filter(|e| visible(principal, e) && matches(filter, e))
            .take(limit)
            .map(|e| e.to_event())
            .collect();
        out.reverse();
        out
    }

    /// A filter is kept as long as its subscription: every string in it is bounded.
    pub fn check_filter(&self, filter: &SubscribeParams) -> Result<(), RpcError> {
        let names = &self.config.names;
        let families = filter.families.as_deref().unwrap_or_default();
        let max = self.config.max_filter_families;
        if families.len() > max {
            let what = format!("params.families: {} families", families.len());
            return Err(RpcError::InvalidParams(format!("{what}, over events.max_filter_families ({max})")));
        }
        for family in families {
            names.check(NameKind::Family, "params.families[]", family)?;
        }
        names.check_opt(NameKind::Session, "params.session_id", filter.session_id.as_deref())?;
        // A run id is a ULID; anything longer than a key matches nothing anyway.
        names.check_opt(NameKind::Key, "params.run_id", filter.run_id.as_deref())
    }

    pub fn subscribe(&self, cx: &Context, filter: SubscribeParams) -> Result<String, RpcError> {
        self.check_filter(&filter)?;
        let connection = cx.connection_id();
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let subscription = format!("sub-{id}");
        let principal = cx.principal().clone();
        let mut inner = self.inner.lock();
        let max = self.config.max_subscriptions;
        // One forwarder per connection, however many subscriptions: one wake-up
        // moves every event queued for it.
        let outlet = match inner.connections.entry(connection) {
            std::collections::hash_map::Entry::Occupied(entry) if !entry.get().sender.is_closed() => entry.into_mut(),
            entry => {
                let (sender, deliveries) = mpsc::unbounded_channel();
                tokio::spawn(forward(cx.clone(), deliveries));
                let outlet = Outlet { sender, subscribers: Vec::new() };
                match entry {
                    std::collections::hash_map::Entry::Occupied(mut old) => {
                        old.insert(outlet);
                        old.into_mut()
                    }
                    std::collections::hash_map::Entry::Vacant(vacant) => vacant.insert(outlet),
                }
            }
        };
        if outlet.subscribers.len() >= max {
            let what = "too many event subscriptions on this connection";
            return Err(RpcError::limit(what, "events.max_subscriptions", max));
        }
        outlet.subscribers.push(Subscriber {
            id,
            name: subscription.as_str().into(),
            principal,
            filter,
            pending: Arc::default(),
            dropped: Arc::default(),
        });
        Ok(subscription)
    }

    pub fn unsubscribe(&self, connection: u64, subscription: &str) -> bool {
        let Some(id) = subscription.strip_prefix("sub-").and_then(|n| n.parse::<u64>().ok()) else { return false };
        let mut inner = self.inner.lock();
        let Some(outlet) = inner.connections.get_mut(&connection) else { return false };
        let before = outlet.subscribers.len();
        outlet.subscribers.retain(|s| s.id != id);
        outlet.subscribers.len() < before
    }

    /// Events slow subscribers have lost since start.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// An event of any shape (floods, oversized payloads), for tests of the bus's bounds.
    #[cfg(feature = "testing")]
    pub fn publish_untyped(&self, family: &str, kind: &str, scope: Scope, payload: Value) {
        self.publish_value(family, kind, scope, payload);
    }

    #[cfg(any(test, feature = "testing"))]
    fn publish_value(&self, family: &str, kind: &str, scope: Scope, payload: Value) {
        let payload = stored::bounded_value(payload, self.config.max_payload_bytes);
        self.publish(family.to_owned().into(), kind.to_owned().into(), scope, payload);
    }

    /// Runs `f` while holding the bus's lock. For tests: a handler that panics
    /// there must cost its own request, not the bus (locks do not poison).
    #[cfg(feature = "testing")]
    pub fn while_locked<R>(&self, f: impl FnOnce() -> R) -> R {
        let _inner = self.inner.lock();
        f()
    }

    pub fn connection_closed(&self, connection: u64) {
        self.inner.lock().connections.remove(&connection);
    }
}

/// Notices written together at most (see `forward`).
const BATCH: usize = 64;

/// Moves a connection's events to its socket, keeping half the outbound queue
/// for replies; once its queue is drained, tells each subscription that lost
/// events (its queue was full) how many, once.
async fn forward(cx: Context, mut deliveries: mpsc::UnboundedReceiver<Delivery>) {
    let mut served: HashMap<Arc<str>, Arc<AtomicU64>> = HashMap::new();
    while let Some(delivery) = deliveries.recv().await {
        for target in &delivery.targets {
            target.pending.fetch_sub(1, Ordering::AcqRel);
        }
        // One notice per subscription, written together: one system call per delivery.
        // Chunked so that a connection with many subscriptions (`max_subscriptions`)
        // still leaves half of its outbound queue to replies when the socket is busy.
        let notices: Vec<Notice> = delivery
            .targets
            .iter()
            .map(|target| Notice { subscription: &target.subscription, event: &delivery.event })
            .collect();
        for chunk in notices.chunks(BATCH) {
            if cx.notify_each_politely(EVENT, chunk).await.is_err() {
                return;
            }
        }
        drop(notices);
        for target in delivery.targets {
            served.entry(target.subscription).or_insert(target.dropped);
        }
        if deliveries.is_empty() {
            // A subscription that is gone (only this map holds its counter) is forgotten.
            served.retain(|_, dropped| Arc::strong_count(dropped) > 1);
            for (id, dropped) in &served {
                let lost = dropped.swap(0, Ordering::Relaxed);
                let notice = LaggedNotice { subscription: id.to_string(), dropped: lost };
                if lost > 0 && cx.notify(LAGGED, &notice).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `EventNotice`'s wire form, borrowing the event's JSON rather than copying it per subscriber.
#[derive(Serialize)]
struct Notice<'a> {
    subscription: &'a str,
    event: &'a RawValue,
}

/// Agents see events of their own runs and sessions; the operator sees all.
fn visible(principal: &Principal, event: &Stored) -> bool {
    let scope = &event.scope;
    match principal {
        Principal::Operator => true,
        Principal::Agent(agent) => {
            scope.agent_id.as_deref() == Some(agent.as_str())
                || agent.session_id().is_some_and(|s| scope.session_id.as_deref() == Some(s))
        }
    }
}

fn matches(filter: &SubscribeParams, event: &Stored) -> bool {
    let scope = &event.scope;
    filter.families.as_ref().is_none_or(|f| f.iter().any(|family| *family == event.family))
        && filter.session_id.as_deref().is_none_or(|s| scope.session_id.as_deref() == Some(s))
        && filter.run_id.as_deref().is_none_or(|r| scope.run_id.as_deref() == Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(agent: Option<&str>, session: Option<&str>) -> Stored {
        let scope = Scope { session_id: session.map(Arc::from), run_id: None, agent_id: agent.map(Arc::from) };
        let payload = serde_json::value::to_raw_value(&Value::Null).unwrap();
        Stored { origin: Origin::now(), family: "runtime.status".into(), kind: "x".into(), scope, payload }
    }

    #[test]
    fn visibility() {
        let alice = Principal::Agent(tether_core::AgentId::new("alice"));
        let session = Principal::Agent(tether_core::AgentId::for_session("S1"));
        assert!(visible(&Principal::Operator, &event(Some("bob"), None)));
        assert!(visible(&alice, &event(Some("alice"), None)));
        assert!(!visible(&alice, &event(Some("bob"), None)));
        assert!(!visible(&alice, &event(None, None)));
        assert!(visible(&session, &event(None, Some("S1"))));
        assert!(!visible(&session, &event(None, Some("S2"))));
    }

    /// Subscription 1 of connection 1, the operator's, everything, with its outlet's
    /// receiving end and its loss counter.
    fn operator_subscribed(bus: &EventBus) -> (Arc<AtomicU64>, mpsc::UnboundedReceiver<Delivery>) {
        let (sender, rx) = mpsc::unbounded_channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let subscriber = Subscriber {
            id: 1,
            name: "sub-1".into(),
            principal: Principal::Operator,
            filter: SubscribeParams::default(),
            pending: Arc::default(),
            dropped: dropped.clone(),
        };
        bus.inner.lock().connections.insert(1, Outlet { sender, subscribers: vec![subscriber] });
        (dropped, rx)
    }

    #[test]
    fn a_typed_event_goes_out_in_each_family_of_its_kind_with_its_wire_kind() {
        use tether_proto::events::{Published, RunDetachedPayload, SessionTransitionPayload};
        use tether_proto::sessions::SessionState;
        let bus = EventBus::new(EventsConfig::default());
        bus.emit(Published::RunDetached(RunDetachedPayload { grace_ms: 5 }), Scope::default());
        let transition = SessionTransitionPayload {
            from: SessionState::Active,
            to: SessionState::Stopped,
            name: "n".into(),
            exit_code: None,
            stop_cause: None,
        };
        bus.emit(Published::SessionTransition(transition), Scope::default());
        let seen: Vec<(String, String, Value)> = bus
            .recent(&Principal::Operator, 10, &SubscribeParams::default())
            .into_iter()
            .map(|e| (e.family, e.kind, e.payload))
            .collect();
        assert_eq!(seen[0], ("runtime.status".into(), "run.detached".into(), serde_json::json!({"grace_ms": 5})));
        assert_eq!((seen[1].0.as_str(), seen[1].1.as_str()), ("runtime.status", "session.stopped"));
        let payload =
            serde_json::json!({"from": "active", "to": "stopped", "name": "n", "exit_code": null, "stop_cause": null});
        assert_eq!(seen[1].2, payload, "the same payload as before it was typed");
    }

    #[test]
    fn subscribers_whose_receiver_is_gone_are_dropped_on_publish() {
        let bus = EventBus::new(EventsConfig::default());
        let (_, rx) = operator_subscribed(&bus);
        drop(rx);
        bus.publish_value("hooks.event", "x", Scope::default(), Value::Null);
        assert!(bus.inner.lock().connections.is_empty());
    }

    #[test]
    fn a_subscription_holds_at_most_its_queue_in_its_outlet_and_counts_the_rest() {
        let bus = EventBus::new(EventsConfig { subscriber_queue: 3, ..Default::default() });
        let (dropped, mut rx) = operator_subscribed(&bus);
        for i in 0..10 {
            bus.publish_value("hooks.event", &format!("k{i}"), Scope::default(), Value::Null);
        }
        let mut queued = 0;
        while let Ok(delivery) = rx.try_recv() {
            queued += delivery.targets.len();
        }
        assert_eq!(queued, 3, "the outlet holds at most subscriber_queue for it");
        assert_eq!(dropped.load(Ordering::Relaxed), 7);
        assert_eq!(bus.dropped_total(), 7);
    }

    #[test]
    fn a_publish_sends_once_per_connection_whatever_its_subscriptions() {
        let bus = EventBus::new(EventsConfig::default());
        let (_, mut rx) = operator_subscribed(&bus);
        {
            let mut inner = bus.inner.lock();
            let outlet = inner.connections.get_mut(&1).unwrap();
            for id in 2..=64 {
                outlet.subscribers.push(Subscriber {
                    id,
                    name: format!("sub-{id}").into(),
                    principal: Principal::Operator,
                    filter: SubscribeParams::default(),
                    pending: Arc::default(),
                    dropped: Arc::default(),
                });
            }
        }
        bus.publish_value("hooks.event", "x", Scope::default(), Value::Null);
        let delivery = rx.try_recv().unwrap();
        assert_eq!(delivery.targets.len(), 64);
        assert!(rx.try_recv().is_err(), "one delivery for the connection");
    }

    #[test]
    fn the_ring_is_bounded_and_recent_is_oldest_first() {
        let bus = EventBus::new(EventsConfig { ring_size: 3, subscriber_queue: 1, ..Default::default() });
        for i in 0..5 {
            bus.publish_value("hooks.event", &format!("k{i}"), Scope::default(), Value::Null);
        }
        let kinds: Vec<String> =
            bus.recent(&Principal::Operator, 10, &SubscribeParams::default()).into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["k2", "k3", "k4"]);
        assert_eq!(bus.recent(&Principal::Operator, 1, &SubscribeParams::default())[0].kind, "k4");
    }

    #[test]
    fn payloads_are_trimmed_and_the_ring_is_bounded_by_bytes() {
        let config = EventsConfig { ring_bytes: 64 << 10, max_payload_bytes: 16 << 10, ..Default::default() };
        let bus = EventBus::new(config);
        for i in 0..20 {
            bus.publish_value(
                "hooks.event",
                &format!("k{i}"),
                Scope::default(),
                serde_json::json!({"i": i, "input": "x".repeat(1 << 20)}),
            );
        }
        let inner = bus.inner.lock();
        assert!(inner.ring_bytes <= 64 << 10, "{}", inner.ring_bytes);
        assert!(inner.ring.len() >= 3 && inner.ring.len() < 20, "{}", inner.ring.len());
        let newest = inner.ring.back().unwrap().to_event();
        assert_eq!(newest.payload["i"], 19);
        assert_eq!(newest.payload["input"]["original_bytes"], 1 << 20);
    }
}
