//! The hooks domain: Claude Code hook events in, policy decisions out (in the
//! exact JSON Claude Code expects), approvals an operator resolves, a durable
//! audit log, circuit breakers per agent, and context-window pressure.

mod account;
mod approvals;
mod audit;
mod breakers;
mod budget;
mod claude;
mod config;
mod error;
mod input;
mod memory;
mod methods;
mod notify;
mod overseers;
mod policy;
mod request;
mod review;
mod shared;
mod trace;

use parking_lot::{Mutex, RwLock};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether_core::{Principal, stamp};
use tether_events::EventBus;
use tether_proto::events::{AgentDelegatedPayload, HookEventPayload, MemoryCompactPayload, Published};
use tether_proto::hooks::{
    BreakerState, BreakerStatus, Decision, DelegateParams, DelegateResult, IngestParams, IngestResult, MemoryParams,
    MemoryResult, PolicyCheckParams, PolicyCheckResult, PolicyInfo,
};

pub use audit::AuditStatus;
pub use budget::BudgetAnswer;
pub use config::{HooksConfig, MemoryThresholds};
pub use error::HooksError;
pub use methods::register;
pub use policy::{check_policy, read_policy_file};
pub use review::ReviewObserver;

use crate::account::Account;
use crate::policy::load_policy;

use crate::approvals::{Approvals, Outcome};
use crate::audit::{Audit, AuditEntry, AuditLimits};
use crate::breakers::{Breakers, Settings};
use crate::input::HookInput;
use crate::memory::LastPressure;
use crate::policy::{Policy, RateLimiter};

/// Where "now" comes from; tests substitute a clock they move by hand.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

struct ActivePolicy {
    policy: Policy,
    loaded_at: String,
}

pub struct Hooks {
    config: HooksConfig,
    policy: RwLock<ActivePolicy>,
    limiter: Mutex<RateLimiter>,
    approvals: Approvals,
    audit: Audit,
    breakers: Mutex<Breakers>,
    memory: Mutex<LastPressure>,
    /// Hooks decided since start, by (known event or `other`, decision), for metrics.
    decided: Mutex<std::collections::BTreeMap<(&'static str, Decision), u64>>,
    events: Arc<EventBus>,
    clock: Arc<dyn Clock>,
    /// Where pending approvals are announced (`hooks.notify_url`), if anywhere.
    notify: Option<notify::Notify>,
    /// Approvals shared with other daemons (a PostgreSQL store), if any.
    board: Option<Arc<dyn tether_store::ApprovalBoard>>,
    /// Connections that review hooks a `review` rule matched.
    overseers: Arc<overseers::Overseers>,
    review_observer: std::sync::OnceLock<Arc<dyn ReviewObserver>>,
}

impl Hooks {
    /// Loads the policy (a broken one refuses to start), the pending approvals,
    /// and opens the audit log, all under `data_dir`.
    pub fn open(
        data_dir: &Path,
        config: HooksConfig,
        events: Arc<EventBus>,
        clock: Arc<dyn Clock>,
        board: Option<Arc<dyn tether_store::ApprovalBoard>>,
    ) -> Result<Arc<Hooks>, HooksError> {
        config.check().map_err(HooksError::Config)?;
        let policy = load_policy(config.policy_file.as_deref(), config.max_policy_bytes)?;
        let ttl = Duration::from_millis(config.approval_ttl_ms);
        let notify = match &config.notify_url {
            None => None,
            Some(url) => {
                notify::parse(url).map_err(|e| HooksError::Config(format!("hooks.notify_url: {e}")))?;
                Some(notify::Notify {
                    url: url.clone(),
                    console_url: config.notify_console_url.clone(),
                    topic: config.notify_topic.clone(),
                    attempts: config.notify_attempts,
                    backoff: Duration::from_millis(config.notify_backoff_ms),
                    timeout: Duration::from_millis(config.notify_timeout_ms),
                })
            }
        };
        let hooks = Arc::new(Hooks {
            notify,
            policy: RwLock::new(ActivePolicy { policy, loaded_at: stamp::now() }),
            limiter: Mutex::default(),
            approvals: Approvals::open(
                data_dir.join("approvals"),
                ttl,
                Duration::from_millis(config.approval_retention_ms),
                Duration::from_millis(config.abandon_after_ms),
            )?,
            audit: Audit::open(
                &data_dir.join("audit.jsonl"),
                AuditLimits {
                    max_bytes: config.audit_max_bytes,
                    keep: config.audit_keep,
                    reserve_bytes: config.audit_reserve_bytes,
                },
            )?,
            breakers: Mutex::default(),
            memory: Mutex::default(),
            decided: Mutex::default(),
            config,
            events,
            clock,
            board,
            overseers: Arc::default(),
            review_observer: std::sync::OnceLock::new(),
        });
        hooks.watch_board();
        hooks.sweep();
        Ok(hooks)
    }

    /// Where reviews are counted (`/metrics`); set once, at assembly.
    pub fn observe_reviews(&self, observer: Arc<dyn ReviewObserver>) {
        let _ = self.review_observer.set(observer);
    }

    /// `overseers.register`: the caller's connection reviews hooks until it closes.
    pub fn register_overseer(
        &self,
        caller: &tether_core::Caller,
        params: tether_proto::overseers::RegisterParams,
    ) -> Result<tether_proto::overseers::Overseer, HooksError> {
        let limits = overseers::OverseerLimits {
            max_overseers: self.config.max_overseers,
            max_globs: self.config.max_overseer_globs,
            names: &self.config.names,
        };
        self.overseers.register(caller, params, limits)
    }

    /// `overseers.list`: in review order.
    pub fn overseers(&self) -> Vec<tether_proto::overseers::Overseer> {
        self.overseers.list()
    }

    /// Re-reads the policy file; on failure the old rules stay and the error names the line.
    /// Where approval waits are counted (`/metrics`); set once.
    pub fn observe(&self, observer: std::sync::Arc<dyn tether_telemetry::Observe>) {
        self.approvals.observe(observer);
    }

    pub fn reload_policy(&self) -> Result<PolicyInfo, HooksError> {
        let policy = load_policy(self.config.policy_file.as_deref(), self.config.max_policy_bytes)?;
        *self.policy.write() = ActivePolicy { policy, loaded_at: stamp::now() };
        tracing::info!("policy reloaded");
        Ok(self.policy_info())
    }

    /// The audit log's dropped lines and rotations (for metrics and health).
    pub fn audit_status(&self) -> AuditStatus {
        self.audit.status()
    }

    /// Empty when healthy; one sentence per problem (for `/healthz`).
    pub fn problems(&self) -> Vec<String> {
        let status = self.audit.status();
        if !status.dropping {
            return Vec::new();
        }
        vec![format!(
            "the audit log is dropping lines ({} for want of space under hooks.audit_reserve_bytes, {} on write errors)",
            status.dropped_low_space, status.dropped_write_error
        )]
    }

    /// Hooks decided since start, by event and decision (for metrics).
    pub fn decision_counts(&self) -> Vec<((String, String), u64)> {
        let name =
            |d: &Decision| serde_json::to_value(d).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        self.decided.lock().iter().map(|((event, d), n)| (((*event).to_owned(), name(d)), *n)).collect()
    }

    pub fn policy_info(&self) -> PolicyInfo {
        let active = self.policy.read();
        PolicyInfo {
            path: self.config.policy_file.as_ref().map(|p| p.display().to_string()),
            loaded_at: active.loaded_at.clone(),
            rules: active.policy.rules(),
            rate_limit: active.policy.rate_limit.as_ref().map(|r| json!(r)),
        }
    }

    /// Judges one hook. A permission hook (PreToolUse, PermissionRequest) is always
    /// answered with a decision once it has an event name: whatever goes wrong after
    /// that answers deny with the reason, because an error is what Claude Code reads
    /// as "no objection" and runs the tool.
    pub async fn ingest(&self, principal: &Principal, params: IngestParams) -> Result<IngestResult, HooksError> {
        let wait = Duration::from_millis(params.wait_ms.unwrap_or(0).min(self.config.max_wait_ms));
        let span = trace::HookSpan::start(params.traceparent.as_deref());
        let hook = HookInput::from_params(params, self.config.large_output_bytes, &self.config.names)?;
        let account = Account::of(principal, &hook);
        let known = claude::KNOWN_EVENTS.contains(&hook.event.as_str());
        let judged = self.judge(&hook, &account, known, wait).await;
        if let Ok(result) = &judged {
            let approval = result.approval_id.as_deref().and_then(|id| self.approvals.get(id));
            span.end(&hook.event, hook.tool.as_deref(), result, approval.as_ref().filter(|_| !wait.is_zero()));
        }
        match judged {
            Err(error) if claude::PERMISSION_EVENTS.contains(&hook.event.as_str()) => {
                tracing::warn!(%error, event = %hook.event, "a permission hook could not be judged; it is denied");
                let reason = format!("tether could not judge this hook, so it is denied: {error}");
                let decided = Decided {
                    event_id: tether_core::new_id().to_string(),
                    decision: Decision::Deny,
                    reason: Some(reason),
                    rule: Some("unjudged".into()),
                    approval_id: None,
                    review: None,
                };
                self.answer(&hook, &account, known, decided).await
            }
            other => other,
        }
    }

    /// `hooks.ingest` for a payload that has not been checked against `IngestParams`
    /// (`POST /hooks`): a permission hook the params refuse is judged on its bounded
    /// form instead, so a malformed field never turns into "no objection".
    pub async fn ingest_value(&self, principal: &Principal, value: Value) -> Result<IngestResult, HooksError> {
        let refused = match serde_json::from_value::<IngestParams>(value.clone()) {
            Ok(params) => match self.ingest(principal, params).await {
                Ok(result) => return Ok(result),
                Err(error) => error,
            },
            Err(error) => error::invalid("payload", error.to_string()),
        };
        let event = value.get("hook_event_name").or_else(|| value.get("event")).and_then(Value::as_str);
        if !event.is_some_and(|e| claude::PERMISSION_EVENTS.contains(&e)) {
            return Err(refused);
        }
        let mut form: serde_json::Map<String, Value> = tether_core::skim::HOOK_NAMES
            .iter()
            .filter_map(|k| value.get(*k).and_then(Value::as_str).map(|v| ((*k).to_owned(), json!(v))))
            .collect();
        form.insert("hook_event_name".into(), json!(event));
        form.insert("bounded".into(), json!(format!("the payload was refused: {refused}")));
        if let Some(wait) = value.get("wait_ms").and_then(Value::as_u64) {
            form.insert("wait_ms".into(), json!(wait));
        }
        let params =
            serde_json::from_value(Value::Object(form)).map_err(|e| error::invalid("payload", e.to_string()))?;
        self.ingest(principal, params).await
    }

    async fn judge(
        &self,
        hook: &HookInput,
        account: &Account,
        known: bool,
        wait: Duration,
    ) -> Result<IngestResult, HooksError> {
        let (mut decision, mut reason, rule) = self.decide(hook, account);
        self.feed_breaker(hook, account);
        let event_id = tether_core::new_id().to_string();

        // What an overseer and an approval see of the tool input: bounded alike.
        let bounded_input = || {
            let mut input = hook.tool_input().clone();
            tether_core::trim::bound(&mut input, self.config.max_approval_input_bytes);
            input
        };
        let mut review = None;
        let mut flag = (None, None);
        if decision == Decision::Review {
            let reviewed = self.review(hook, account, &event_id, &bounded_input(), rule.as_deref()).await;
            (decision, reason) = (reviewed.decision, reviewed.reason);
            flag = (reviewed.flagged_by, reviewed.record.reason.clone());
            review = Some(reviewed.record);
        }

        let mut approval_id = None;
        if decision == Decision::Ask {
            let asked = approvals::Asked {
                session_id: account.session_id.clone(),
                agent_id: account.agent_id.clone(),
                event: &hook.event,
                tool: hook.tool.clone(),
                input: bounded_input(),
                rule: rule.clone(),
                kind: None,
                flagged_by: flag.0,
                flag_reason: flag.1,
            };
            let created = self.approvals.create(asked, self.config.max_pending_approvals).await;
            let approval = match created {
                Ok(approval) => approval,
                // The approval cannot be kept (a full disk): the answer is still `ask`,
                // so Claude Code asks its own user; never an error a hook reads as "allow".
                Err(HooksError::Io(error)) => {
                    tracing::warn!(%error, "an approval could not be recorded; the hook answers ask");
                    let decided = Decided { event_id, decision, reason, rule, approval_id: None, review };
                    return self.answer(hook, account, known, decided).await;
                }
                Err(other) => return Err(other),
            };
            approval_id = Some(approval.approval_id.clone());
            // The board keeps no `waiting` (it is this node's, and live).
            self.post(&approval).await;
            // Waiting before it is announced: whoever lists it on hearing of it reads `waiting`.
            let id = approval.approval_id.clone();
            let waiter = if wait.is_zero() { None } else { Some(self.approvals.waiter(&id)?) };
            let approval = tether_proto::hooks::Approval { waiting: waiter.is_some(), ..approval };
            self.events.emit(Published::ApprovalCreated(approval.clone()), account.scope());
            if let Some(notify) = &self.notify {
                notify.send(&approval);
            }
            if let Some(waiter) = waiter {
                match waiter.wait(wait).await? {
                    Outcome::Resolved(resolved) => {
                        decision = if resolved.state == tether_proto::hooks::ApprovalState::Allowed {
                            Decision::Allow
                        } else {
                            Decision::Deny
                        };
                        reason = resolved.reason.or(reason);
                    }
                    Outcome::Expired => {
                        decision = Decision::Deny;
                        reason = Some(format!("approval {} expired before anyone resolved it", approval.approval_id));
                    }
                    Outcome::StillPending => {}
                }
            }
        }

        self.answer(hook, account, known, Decided { event_id, decision, reason, rule, approval_id, review }).await
    }

    /// Counts, audits and publishes a decided hook, and builds its answer. The audit
    /// line is written before the answer, or counted as dropped: never an error.
    async fn answer(
        &self,
        hook: &HookInput,
        account: &Account,
        known: bool,
        decided: Decided,
    ) -> Result<IngestResult, HooksError> {
        let Decided { event_id, decision, reason, rule, approval_id, review } = decided;
        let decision_name = serde_json::to_value(decision).unwrap().as_str().unwrap_or_default().to_owned();
        // Event names come from clients: only known ones become metric labels.
        let label = claude::KNOWN_EVENTS.iter().find(|e| **e == hook.event).copied().unwrap_or("other");
        *self.decided.lock().entry((label, decision)).or_default() += 1;
        self.audit
            .append(&AuditEntry {
                ts: stamp::now(),
                session_id: account.session_id.as_deref(),
                agent_id: account.agent_id.as_deref(),
                claude_session_id: hook.claude_session_id.as_deref(),
                event: &hook.event,
                tool: hook.tool.as_deref(),
                decision: &decision_name,
                rule: rule.as_deref(),
                reason: reason.as_deref(),
                trimmed: &hook.trimmed,
                review: review.as_ref(),
            })
            .await;
        let payload = HookEventPayload {
            event_id: event_id.clone(),
            event: hook.event.clone(),
            known,
            tool: hook.tool.clone(),
            decision,
            rule: rule.clone(),
            reason: reason.clone(),
            claude_session_id: hook.claude_session_id.clone(),
            subagent_id: hook.subagent.clone(),
            payload: hook.payload.clone(),
        };
        self.events.emit(Published::Hook(payload), account.scope());
        Ok(IngestResult {
            hook_output: claude::hook_output(&hook.event, decision, reason.as_deref()),
            event_id,
            decision,
            reason,
            rule,
            known,
            approval_id,
            review,
        })
    }

    /// `policy.check`: the rules, then `default_decision`, for one tool call, recording
    /// nothing (the rate limit is not charged, so a real call may still be refused by it).
    pub fn check(&self, params: PolicyCheckParams) -> PolicyCheckResult {
        let event = params.event.unwrap_or_else(|| "PreToolUse".into());
        let verdict = self.policy.read().policy.decide(&event, Some(&params.tool_name), &params.tool_input);
        match verdict {
            Some(verdict) => {
                PolicyCheckResult { decision: verdict.decision, reason: verdict.reason, rule: verdict.rule }
            }
            None if claude::PERMISSION_EVENTS.contains(&event.as_str())
                && self.config.default_decision != Decision::None =>
            {
                PolicyCheckResult {
                    decision: self.config.default_decision,
                    reason: Some("no rule matched (hooks.default_decision)".into()),
                    rule: Some("default_decision".into()),
                }
            }
            None => PolicyCheckResult { decision: Decision::None, reason: None, rule: None },
        }
    }

    /// The rate limit first (tool calls per session), then the rules, then, for a
    /// permission no rule decided, `default_decision`.
    fn decide(&self, hook: &HookInput, account: &Account) -> (Decision, Option<String>, Option<String>) {
        let active = self.policy.read();
        if hook.event == "PreToolUse"
            && let Some(limit) = &active.policy.rate_limit
        {
            let key = account.rate_key();
            if !self.limiter.lock().admit(key, limit, self.clock.now()) {
                let reason =
                    format!("rate limit: more than {} tool calls in {} s for {key}", limit.tool_calls, limit.window_s);
                return (Decision::Deny, Some(reason), Some("rate_limit".into()));
            }
        }
        let verdict = match &hook.bounded {
            None => active.policy.decide(&hook.event, hook.tool.as_deref(), hook.tool_input()),
            Some(why) => match active.policy.decide_bounded(&hook.event, hook.tool.as_deref()) {
                Some(policy::Bounded::Decided(verdict)) => Some(verdict),
                Some(policy::Bounded::NeedsInput(rule))
                    if claude::PERMISSION_EVENTS.contains(&hook.event.as_str())
                        && self.config.unjudged_decision != Decision::None =>
                {
                    let reason = format!(
                        "the hook's payload was cut to its names ({why}), and rule {rule:?} matches on the \
                         tool input, so it could not be evaluated (hooks.unjudged_decision)"
                    );
                    return (self.config.unjudged_decision, Some(reason), Some(rule));
                }
                // Not a permission: nothing to decide on what is missing.
                Some(policy::Bounded::NeedsInput(_)) | None => None,
            },
        };
        match verdict {
            Some(verdict) => (verdict.decision, verdict.reason, verdict.rule),
            None if claude::PERMISSION_EVENTS.contains(&hook.event.as_str())
                && self.config.default_decision != Decision::None =>
            {
                let reason = "no rule matched (hooks.default_decision)".to_owned();
                (self.config.default_decision, Some(reason), Some("default_decision".into()))
            }
            None => (Decision::None, None, None),
        }
    }

    /// Tool outcomes feed the breaker of the agent the hook is accounted to.
    fn feed_breaker(&self, hook: &HookInput, account: &Account) {
        let Some(agent) = &account.agent_id else { return };
        let ok = match hook.event.as_str() {
            "PostToolUseFailure" => false,
            "SubagentStop" | "PostToolUse" => hook.payload.get("error").is_none(),
            _ => return,
        };
        self.record_outcome(agent, ok);
    }

    /// An agent's attempt succeeded or failed (tool actions from proposals, failure hooks).
    pub fn record_outcome(&self, agent: &str, ok: bool) {
        self.breakers.lock().record(agent, ok, self.clock.now(), self.breaker_settings());
    }

    pub fn breakers(&self, agent: Option<&str>) -> Vec<BreakerStatus> {
        let breakers = self.breakers.lock();
        let now = self.clock.now();
        match agent {
            Some(agent) => vec![breakers.status(agent, now, self.breaker_settings())],
            None => breakers.agents().map(|a| breakers.status(a, now, self.breaker_settings())).collect(),
        }
    }

    pub async fn delegate(&self, principal: &Principal, params: DelegateParams) -> Result<DelegateResult, HooksError> {
        let names = &self.config.names;
        names.check(tether_core::NameKind::Agent, "params.agent", &params.agent)?;
        names.check(tether_core::NameKind::Session, "params.session_id", &params.session_id)?;
        let account = Account::named(principal, Some(params.session_id.clone()), None);
        if params.task.trim().is_empty() {
            return Err(error::invalid("task", "must not be empty"));
        }
        let settings = self.breaker_settings();
        let now = self.clock.now();
        let state = self.breakers.lock().take_probe(&params.agent, now, settings);
        if state == BreakerState::Open {
            let status = self.breakers.lock().status(&params.agent, now, settings);
            return Err(HooksError::BreakerOpen {
                agent: params.agent,
                state,
                retry_in_ms: status.retry_in_ms.unwrap_or(0),
            });
        }
        let delegation_id = tether_core::new_id().to_string();
        self.audit
            .append(&AuditEntry {
                ts: stamp::now(),
                session_id: account.session_id.as_deref(),
                agent_id: account.agent_id.as_deref(),
                claude_session_id: None,
                event: "agents.delegate",
                tool: Some(&params.agent),
                decision: "allow",
                rule: None,
                reason: None,
                trimmed: &[],
                review: None,
            })
            .await;
        let payload = AgentDelegatedPayload {
            delegation_id: delegation_id.clone(),
            agent: params.agent.clone(),
            task: params.task,
            tier: params.tier,
            breaker: state,
        };
        self.events.emit(Published::AgentDelegated(payload), account.scope());
        Ok(DelegateResult { delegation_id, agent: params.agent, breaker: state })
    }

    pub fn memory(&self, principal: &Principal, params: MemoryParams) -> Result<MemoryResult, HooksError> {
        if params.window_tokens == 0 {
            return Err(error::invalid("window_tokens", "must be greater than 0"));
        }
        self.config.names.check(tether_core::NameKind::Session, "params.session_id", &params.session_id)?;
        let fraction = params.used_tokens as f64 / params.window_tokens as f64;
        let pressure = memory::pressure(fraction, &self.config.memory);
        let account = Account::named(principal, Some(params.session_id), None);
        if self.memory.lock().entered_compact(account.rate_key(), pressure) {
            let payload =
                MemoryCompactPayload { used_tokens: params.used_tokens, window_tokens: params.window_tokens, fraction };
            self.events.emit(Published::MemoryCompact(payload), account.scope());
        }
        Ok(MemoryResult { fraction, pressure })
    }

    fn breaker_settings(&self) -> Settings {
        Settings {
            failures: self.config.breaker_failures.max(1),
            cooldown: Duration::from_millis(self.config.breaker_cooldown_ms),
        }
    }
}

/// A hook's decision, with everything its answer, audit line and event carry.
struct Decided {
    event_id: String,
    decision: Decision,
    reason: Option<String>,
    rule: Option<String>,
    approval_id: Option<String>,
    review: Option<tether_proto::overseers::Review>,
}
