//! The daemon's assembly: which domains make up tether and how they are opened.
//! The binary (`main.rs`) and the tests build the same daemon from here. The command
//! line and the configuration it resolves live here too, so the config-file fuzz target
//! (`crates/fuzzing`) drives the same parser the daemon runs.

pub mod cli;
pub mod config;
pub mod telemetry;

use std::path::Path;
use std::sync::Arc;

use tether_console::{ConsoleConfig, Logins};
use tether_core::{AnyOf, Authenticator, Principal, Registry};
use tether_events::{EventBus, EventsConfig};
use tether_hooks::{Clock, Hooks, HooksConfig, SystemClock};
use tether_metrics::{Metrics, Snapshot};
use tether_pg::PgStore;
use tether_runs::{Runs, RunsConfig};
use tether_server::{Health, HookEndpoint, MetricsEndpoint};
use tether_sessions::{Sessions, SessionsConfig};
use tether_store::{ApprovalBoard, Fsync, Journal, JournalOptions, RunStore};

/// The settings of every domain.
#[derive(Debug, Clone, Default)]
pub struct Domains {
    pub runs: RunsConfig,
    pub journal: JournalOptions,
    /// Keep runs in PostgreSQL instead of the journal under the data directory.
    pub store: Option<tether_pg::PgOptions>,
    /// How often a node on a shared store looks for dead nodes' runs.
    pub sweep: std::time::Duration,
    pub sessions: SessionsConfig,
    pub events: EventsConfig,
    pub hooks: HooksConfig,
    pub console: ConsoleConfig,
    /// The connection limits: the domains check names against `limits.names` and
    /// size unpaged replies against `limits.max_message_bytes`.
    pub limits: tether_core::Limits,
}

/// Everything the listener needs from the domains.
pub struct Assembly {
    pub registry: Registry,
    pub metrics: Arc<Metrics>,
    pub runs: Arc<Runs>,
    pub sessions: Arc<Sessions>,
    pub hooks: Arc<Hooks>,
    pub events: Arc<EventBus>,
    /// Console login codes and sessions (when the console is enabled).
    pub logins: Option<Arc<Logins>>,
    /// The daemon's own WebSocket URL, once bound: sessions and `/mcp` dial it.
    pub daemon_url: Arc<std::sync::OnceLock<String>>,
}

impl Assembly {
    /// The operator's token, every managed session's scoped token, and console logins.
    pub fn authenticator(&self, operator: Arc<dyn Authenticator>) -> Arc<dyn Authenticator> {
        let mut all = vec![operator, self.sessions.tokens()];
        if let Some(logins) = &self.logins {
            all.push(logins.clone());
        }
        Arc::new(AnyOf(all))
    }

    /// What `/mcp` is: MCP over Streamable HTTP, each call as its bearer's identity.
    pub fn mcp(&self, options: tether_mcp::McpOptions) -> Arc<dyn tether_server::McpEndpoint> {
        Arc::new(tether_mcp::HttpEndpoint::new(options, self.daemon_url.clone()))
    }

    /// What `/metrics` renders.
    pub fn metrics(&self) -> Arc<dyn MetricsEndpoint> {
        Arc::new(DomainMetrics {
            metrics: self.metrics.clone(),
            runs: self.runs.clone(),
            sessions: self.sessions.clone(),
            hooks: self.hooks.clone(),
            events: self.events.clone(),
        })
    }

    /// What `/healthz` consults.
    pub fn health(&self) -> Arc<dyn Health> {
        Arc::new(DomainHealth(self.runs.clone(), self.hooks.clone()))
    }
}

/// Opens every domain's state under `data_dir` and registers their methods.
/// Recovery happens here: runs left in progress by a crashed process end
/// `incomplete` and sessions are reconciled before this returns, so before any
/// listener accepts anyone.
pub async fn assemble(data_dir: &Path, domains: &Domains, fsync: Arc<dyn Fsync>) -> Result<Assembly, String> {
    assemble_with_clock(data_dir, domains, fsync, Arc::new(SystemClock)).await
}

/// [`assemble`], with the clock the breakers and rate limits read (tests move it by hand).
pub async fn assemble_with_clock(
    data_dir: &Path,
    domains: &Domains,
    fsync: Arc<dyn Fsync>,
    clock: Arc<dyn Clock>,
) -> Result<Assembly, String> {
    let metrics = Arc::new(Metrics::new());
    // Each domain checks the names it keeps against `[limits.names]`.
    let names = &domains.limits.names;
    let events_config = EventsConfig { names: names.clone(), ..domains.events.clone() };
    let sessions_config = SessionsConfig { names: names.clone(), ..domains.sessions.clone() };
    let mut board: Option<Arc<dyn ApprovalBoard>> = None;
    let mut events = None;
    let (store, recovered): (Arc<dyn RunStore>, _) = match &domains.store {
        Some(options) => {
            let (store, recovered) = PgStore::open(options.clone()).await.map_err(|e| format!("store: {e}"))?;
            tracing::info!(node = %store.node_id(), name = %options.node_name, "runs are kept in PostgreSQL");
            board = Some(Arc::new(store.clone()));
            events = Some(shared_events(&store, events_config.clone()));
            (Arc::new(store), recovered)
        }
        None => {
            let (journal, recovered) = Journal::open(&data_dir.join("journal"), domains.journal.clone(), fsync)
                .map_err(|e| format!("journal: {e}"))?;
            journal.observe(metrics.clone());
            metrics.watch_journal(journal.clone());
            if recovered.truncated_bytes > 0 || recovered.corrupt_frames > 0 {
                tracing::warn!(
                    truncated_bytes = recovered.truncated_bytes,
                    corrupt_records = recovered.corrupt_frames,
                    "journal recovered from damage"
                );
            }
            (Arc::new(journal), recovered)
        }
    };
    let events = events.unwrap_or_else(|| EventBus::new(events_config.clone()));
    let runs_config = RunsConfig {
        names: names.clone(),
        max_message_bytes: domains.limits.max_message_bytes,
        ..domains.runs.clone()
    };
    let runs =
        Runs::open(store, recovered, runs_config, events.clone(), metrics.clone()).await.map_err(|e| e.to_string())?;
    runs.watch_orphans(domains.sweep);
    let hooks_config = HooksConfig { names: names.clone(), ..domains.hooks.clone() };
    let hooks = Hooks::open(data_dir, hooks_config, events.clone(), clock, board).map_err(|e| e.to_string())?;
    hooks.observe(metrics.clone());
    hooks.observe_reviews(Arc::new(ReviewMetrics(metrics.clone())));
    let breakers = hooks.clone();
    runs.on_action_outcome(Box::new(move |agent, ok| breakers.record_outcome(agent, ok)));
    runs.set_budget_gate(Arc::new(BudgetApprovals(hooks.clone())));
    let runs_of = {
        let runs = runs.clone();
        Box::new(move |agent: &str| runs.summaries_for(agent))
    };
    let sessions = Sessions::open(data_dir, sessions_config, runs_of, events.clone())
        .await
        .map_err(|e| format!("sessions: {e}"))?;
    let mut registry = Registry::new();
    registry.observe(metrics.clone());
    tether_runs::register(&mut registry, runs.clone());
    tether_sessions::register(&mut registry, sessions.clone());
    tether_events::register(&mut registry, events.clone());
    tether_hooks::register(&mut registry, hooks.clone());
    let logins = domains.console.enabled.then(|| Arc::new(Logins::new(domains.console.clone())));
    if let Some(logins) = &logins {
        tether_console::register(&mut registry, logins.clone());
    }
    Ok(Assembly { registry, metrics, runs, sessions, hooks, events, logins, daemon_url: Arc::default() })
}

/// An event bus whose events every daemon on the database sees: this node's go
/// out through the store's event log, the others' come in and are delivered here.
fn shared_events(store: &PgStore, config: EventsConfig) -> Arc<EventBus> {
    struct ToStore(Arc<tether_pg::EventSink>);
    impl tether_events::Relay for ToStore {
        fn share(&self, event: &serde_json::value::RawValue) -> bool {
            self.0.share(event.get().as_bytes().to_vec())
        }
    }
    let (sink, mut incoming) = store.share_events();
    let bus = EventBus::with_relay(config, Some(Arc::new(ToStore(sink))));
    let weak = Arc::downgrade(&bus);
    tokio::spawn(async move {
        while let Some(body) = incoming.recv().await {
            let Some(bus) = weak.upgrade() else { return };
            match serde_json::from_slice(&body) {
                Ok(event) => bus.inject(event),
                Err(error) => tracing::debug!(%error, "an event from another node this version cannot read"),
            }
        }
    });
    bus
}

/// Just the registry (for discovery checks).
pub async fn registry(data_dir: &Path, domains: &Domains, fsync: Arc<dyn Fsync>) -> Result<Registry, String> {
    Ok(assemble(data_dir, domains, fsync).await?.registry)
}

/// The domains' figures, read at scrape time.
struct DomainMetrics {
    metrics: Arc<Metrics>,
    runs: Arc<Runs>,
    sessions: Arc<Sessions>,
    hooks: Arc<Hooks>,
    events: Arc<EventBus>,
}

impl MetricsEndpoint for DomainMetrics {
    fn render(
        &self,
        connections: Vec<(&'static str, &'static str, usize)>,
        openmetrics: bool,
    ) -> (String, &'static str) {
        let store = self.runs.store_info();
        let audit = self.hooks.audit_status();
        let text = self.metrics.render(&Snapshot {
            connections,
            runs: self.runs.status_counts(),
            sessions: self.sessions.state_counts(),
            callbacks_pending: tether_core::callbacks_pending(),
            events_dropped: self.events.dropped_total(),
            hook_decisions: self.hooks.decision_counts(),
            store: (store.kind.to_owned(), store.node.clone().unwrap_or_default()),
            lease_age_seconds: store.lease_renewed_ago.map(|d| d.as_secs_f64()),
            audit_dropped: vec![("low_space", audit.dropped_low_space), ("write_error", audit.dropped_write_error)],
            audit_rotations: audit.rotations,
        });
        if openmetrics {
            (text, tether_metrics::OPENMETRICS)
        } else {
            (tether_metrics::prometheus_text(&text), tether_metrics::PROMETHEUS_TEXT)
        }
    }
}

/// The domains' problems, for `/healthz`.
struct DomainHealth(Arc<Runs>, Arc<Hooks>);

impl Health for DomainHealth {
    fn problems(&self) -> Vec<String> {
        let mut problems = self.0.problems();
        problems.extend(self.1.problems());
        problems
    }

    fn store(&self) -> serde_json::Value {
        let info = self.0.store_info();
        serde_json::json!({
            "kind": info.kind,
            "node": info.node,
            "lease_until": info.lease_until,
            "lease_renewed_ms_ago": info.lease_renewed_ago.map(|d| d.as_millis() as u64),
        })
    }
}

/// Reviews counted in `/metrics` (hooks knows nothing of Prometheus).
struct ReviewMetrics(Arc<Metrics>);

impl tether_hooks::ReviewObserver for ReviewMetrics {
    fn reviewed(
        &self,
        decision: &'static str,
        fallback: Option<tether_proto::overseers::Fallback>,
        latency: std::time::Duration,
    ) {
        self.0.reviewed(decision, fallback.map_or("answered", |f| f.name()), latency);
    }
}

/// `POST /hooks`: a Claude Code hook payload in, its `hook_output` out.
pub struct HooksOverHttp(pub Arc<Hooks>);

impl HookEndpoint for HooksOverHttp {
    fn handle(
        &self,
        principal: Principal,
        body: serde_json::Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<serde_json::Value, String>> + Send>> {
        let hooks = self.0.clone();
        Box::pin(async move {
            let result = hooks.ingest_value(&principal, body).await.map_err(|e| e.to_string())?;
            Ok(result.hook_output)
        })
    }
}

/// A run's budget breach, asked on the approvals board (`kind: "budget"`).
struct BudgetApprovals(Arc<Hooks>);

impl tether_runs::BudgetGate for BudgetApprovals {
    fn ask(
        &self,
        ask: tether_runs::BudgetAsk,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = tether_runs::BudgetVerdict> + Send + '_>> {
        Box::pin(async move {
            let input = tether_runs::approval_input(&ask);
            let asked = self.0.ask_budget(&ask.agent_id, ask.session_id.clone(), &ask.run_id, &ask.breach.limit, input);
            match asked.await {
                Ok(answer) if answer.allowed => tether_runs::BudgetVerdict::Raise(answer.raise),
                Ok(answer) => {
                    tether_runs::BudgetVerdict::Deny { approval_id: Some(answer.approval_id), reason: answer.reason }
                }
                // No approval could be opened (too many pending, a full disk): the run
                // stops at its limit rather than pass it unasked.
                Err(error) => tether_runs::BudgetVerdict::Deny {
                    approval_id: None,
                    reason: Some(format!("no budget approval could be opened: {error}")),
                },
            }
        })
    }
}
