//! A `review` decision: the hook goes to a connected overseer (`hooks.review`), whose
//! verdict is the answer; a missing, late, failing or vanished overseer gives
//! `hooks.review_fallback` (`ask` or `deny`: never a silent allow), with a reason that
//! says which happened. Every review is audited with its hook, published as a
//! `hook.reviewed` event and counted (`ReviewObserver`, wired to `/metrics`).

use std::time::Duration;

use serde_json::Value;
use tether_proto::events::{HookReviewedPayload, Published};
use tether_proto::hooks::Decision;
use tether_proto::overseers::{Fallback, Review, ReviewParams, Verdict};

use crate::input::HookInput;
use crate::overseers::Asked;
use crate::{Account, Hooks};

/// Told of every review as it ends (`/metrics`: reviews by decision, and their latency).
pub trait ReviewObserver: Send + Sync {
    /// `decision` is the wire name of what the review produced; `fallback` why the
    /// overseer did not decide, if it did not.
    fn reviewed(&self, decision: &'static str, fallback: Option<Fallback>, latency: Duration);
}

/// What a review produced, for the rest of the hook's judgement.
pub(crate) struct Reviewed {
    pub(crate) decision: Decision,
    pub(crate) reason: Option<String>,
    /// The overseer that answered `ask`, for the approval it opens.
    pub(crate) flagged_by: Option<String>,
    pub(crate) record: Review,
}

impl Hooks {
    /// Reviews one hook whose policy decision was `review`.
    pub(crate) async fn review(
        &self,
        hook: &HookInput,
        account: &Account,
        event_id: &str,
        input: &Value,
        rule: Option<&str>,
    ) -> Reviewed {
        let deadline = Duration::from_millis(self.config.review_timeout_ms);
        let chosen = self.overseers.choose(&hook.event, hook.tool.as_deref());
        let (asked, latency, overseer) = match &chosen {
            None => {
                let why = "no overseer that reviews this hook is connected".to_owned();
                (Asked::Failed(Fallback::NoOverseer, why), Duration::ZERO, None)
            }
            Some(chosen) => {
                let params = ReviewParams {
                    overseer: chosen.name().to_owned(),
                    event_id: event_id.to_owned(),
                    event: hook.event.clone(),
                    session_id: account.session_id.clone(),
                    agent_id: account.agent_id.clone(),
                    tool: hook.tool.clone(),
                    input: input.clone(),
                    rule: rule.map(str::to_owned),
                    deadline_ms: self.config.review_timeout_ms,
                };
                let (asked, latency) = chosen.ask(params, deadline).await;
                (asked, latency, Some(chosen.name().to_owned()))
            }
        };
        let fallback = self.config.review_fallback;
        let reviewed = match asked {
            Asked::Answered(answer) => {
                let name = overseer.clone().unwrap_or_default();
                let said = answer.reason.map(|r| bounded(r, self.config.max_review_reason_bytes));
                let decision = match answer.decision {
                    Verdict::Allow => Decision::Allow,
                    Verdict::Deny => Decision::Deny,
                    Verdict::Ask => Decision::Ask,
                    Verdict::None => Decision::None,
                };
                let reason = match (&said, answer.decision) {
                    (Some(said), _) => format!("overseer {name:?}: {said}"),
                    (None, Verdict::Allow) => format!("allowed by overseer {name:?}"),
                    (None, Verdict::Deny) => format!("denied by overseer {name:?}"),
                    (None, Verdict::Ask) => format!("flagged for a human by overseer {name:?}"),
                    (None, Verdict::None) => format!("overseer {name:?} had no opinion"),
                };
                let flagged_by = (decision == Decision::Ask).then(|| name.clone());
                let record = Review {
                    overseer,
                    decision,
                    reason: said,
                    latency_ms: latency.as_secs_f64() * 1e3,
                    fallback: None,
                };
                Reviewed { decision, reason: Some(reason), flagged_by, record }
            }
            Asked::Failed(why, what) => {
                let reason = format!("{what}; the review fell back to {} (hooks.review_fallback)", wire(fallback));
                let record = Review {
                    overseer,
                    decision: fallback,
                    reason: Some(reason.clone()),
                    latency_ms: latency.as_secs_f64() * 1e3,
                    fallback: Some(why),
                };
                Reviewed { decision: fallback, reason: Some(reason), flagged_by: None, record }
            }
        };
        if let Some(observer) = self.review_observer.get() {
            observer.reviewed(wire(reviewed.decision), reviewed.record.fallback, latency);
        }
        let payload = HookReviewedPayload {
            event_id: event_id.to_owned(),
            event: hook.event.clone(),
            tool: hook.tool.clone(),
            rule: rule.map(str::to_owned),
            review: reviewed.record.clone(),
        };
        self.events.emit(Published::HookReviewed(payload), account.scope());
        reviewed
    }
}

/// A decision's wire name.
pub(crate) fn wire(decision: Decision) -> &'static str {
    match decision {
        Decision::None => "none",
        Decision::Allow => "allow",
        Decision::Deny => "deny",
        Decision::Ask => "ask",
        Decision::Review => "review",
    }
}

/// An overseer's reason is client text: kept to `max` bytes (cut on a character boundary).
fn bounded(mut reason: String, max: usize) -> String {
    if reason.len() > max {
        let mut end = max;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let total = reason.len();
        reason.truncate(end);
        reason.push_str(&format!("… ({total} bytes, cut to hooks.max_review_reason_bytes)"));
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reason_is_cut_and_says_so() {
        assert_eq!(bounded("short".into(), 16), "short");
        let cut = bounded("é".repeat(100), 11);
        assert!(cut.starts_with(&"é".repeat(5)) && cut.contains("200 bytes"), "{cut}");
    }
}
