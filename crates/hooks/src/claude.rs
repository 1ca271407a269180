//! What Claude Code expects back from a hook, per event (its hooks reference).

use serde_json::{Value, json};
use tether_proto::hooks::Decision;

/// Event names this version knows; others are recorded with `known: false`.
pub(crate) const KNOWN_EVENTS: [&str; 13] = [
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "UserPromptSubmit",
    "Notification",
    "Stop",
    "SubagentStart",
    "SubagentStop",
    "PreCompact",
    "PostCompact",
    "SessionStart",
    "SessionEnd",
];

/// The events whose decision is a permission: `hooks.default_decision` applies to these.
pub(crate) const PERMISSION_EVENTS: [&str; 2] = ["PreToolUse", "PermissionRequest"];

pub(crate) fn hook_output(event: &str, decision: Decision, reason: Option<&str>) -> Value {
    // `review` is settled before any answer; were one to slip through, it asks a human.
    let decision = if decision == Decision::Review { Decision::Ask } else { decision };
    let reason = reason.unwrap_or_default();
    match (event, decision) {
        // No decision: Claude Code goes on as if no hook had answered, prompt included.
        (_, Decision::None) => json!({}),
        ("PreToolUse", _) => json!({
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": decision,
                "permissionDecisionReason": reason,
            }
        }),
        // `ask` leaves Claude Code to show its own permission dialog.
        ("PermissionRequest", Decision::Ask) => json!({}),
        ("PermissionRequest", _) => {
            let behavior = if decision == Decision::Allow { "allow" } else { "deny" };
            let mut answer = json!({"behavior": behavior});
            if !reason.is_empty() {
                answer["message"] = json!(reason);
            }
            json!({"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": answer}})
        }
        (_, Decision::Allow | Decision::Ask | Decision::Review) => json!({}),
        // Events that can be blocked say so with `decision: "block"`.
        ("PostToolUse" | "PostToolUseFailure" | "UserPromptSubmit" | "Stop" | "SubagentStop", Decision::Deny) => {
            json!({"decision": "block", "reason": reason})
        }
        // Anything else denied stops Claude, with the reason shown to the user.
        (_, Decision::Deny) => json!({"continue": false, "stopReason": reason}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_tool_use_carries_the_permission_decision() {
        let out = hook_output("PreToolUse", Decision::Deny, Some("no rm"));
        assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "deny");
        assert_eq!(out["hookSpecificOutput"]["permissionDecisionReason"], "no rm");
        assert_eq!(hook_output("PreToolUse", Decision::Ask, None)["hookSpecificOutput"]["permissionDecision"], "ask");
    }

    #[test]
    fn no_decision_carries_nothing_for_any_event() {
        for event in KNOWN_EVENTS {
            assert_eq!(hook_output(event, Decision::None, Some("why")), json!({}), "{event}");
        }
        assert_eq!(
            hook_output("PermissionRequest", Decision::Allow, None)["hookSpecificOutput"]["decision"]["behavior"],
            "allow"
        );
    }

    #[test]
    fn other_events() {
        assert_eq!(
            hook_output("PermissionRequest", Decision::Deny, Some("x"))["hookSpecificOutput"]["decision"]["behavior"],
            "deny"
        );
        assert_eq!(
            hook_output("UserPromptSubmit", Decision::Deny, Some("x")),
            json!({"decision": "block", "reason": "x"})
        );
        assert_eq!(hook_output("Stop", Decision::Allow, None), json!({}));
        assert_eq!(
            hook_output("SessionStart", Decision::Deny, Some("x")),
            json!({"continue": false, "stopReason": "x"})
        );
    }
}
