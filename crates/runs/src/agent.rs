//! Who a run belongs to, and the checks on what `runs.start` keeps of its params.

use tether_core::{AgentId, NameKind, Principal};
use tether_proto::runs::StartParams;

use crate::config::RunsConfig;
use crate::error::{RunsError, invalid};

/// Every string `runs.start` keeps (and journals) is bounded before anything else
/// looks at it: the intent by `runs.max_intent_bytes` (free text), the key and the
/// agent by `[limits.names]`.
pub(crate) fn check_start(params: &StartParams, config: &RunsConfig) -> Result<(), RunsError> {
    trace_of(params)?;
    if params.intent.trim().is_empty() {
        return Err(invalid("intent", "must not be empty"));
    }
    let max = config.max_intent_bytes;
    if params.intent.len() > max {
        return Err(invalid("intent", format!("{} bytes exceeds runs.max_intent_bytes = {max}", params.intent.len())));
    }
    let names = &config.names;
    // `runs.max_idempotency_key_bytes` came first and stays; `limits.names.key` applies too.
    let max = config.max_idempotency_key_bytes;
    if let Some(key) = params.idempotency_key.as_ref().filter(|k| k.len() > max) {
        let problem = format!("{} bytes exceeds runs.max_idempotency_key_bytes = {max}", key.len());
        return Err(invalid("idempotency_key", problem));
    }
    names.check_opt(NameKind::Key, "params.idempotency_key", params.idempotency_key.as_deref())?;
    names.check_opt(NameKind::Agent, "params.agent_id", params.agent_id.as_deref())?;
    names.check_opt(NameKind::Agent, "params.agent_name", params.agent_name.as_deref())?;
    Ok(())
}

/// The agent a run belongs to: the connection's binding, else `agent_id`, else `name:<slug>`.
pub(crate) fn resolve_agent(
    principal: &Principal,
    agent_id: Option<String>,
    agent_name: Option<String>,
) -> Result<AgentId, RunsError> {
    if let Principal::Agent(bound) = principal {
        return match agent_id {
            Some(asked) if *bound != *asked => {
                Err(invalid("agent_id", format!("this connection is bound to agent {:?}", bound.as_str())))
            }
            _ => Ok(bound.clone()),
        };
    }
    if let Some(id) = agent_id {
        return if id.trim().is_empty() { Err(invalid("agent_id", "must not be empty")) } else { Ok(AgentId::new(id)) };
    }
    if let Some(name) = agent_name {
        let slug = slug(&name);
        return if slug.is_empty() {
            Err(invalid("agent_name", "has no letters or digits"))
        } else {
            Ok(AgentId::new(format!("name:{slug}")))
        };
    }
    Err(invalid("agent_id", "required: bind the connection with session.auth, or pass agent_id or agent_name"))
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The caller's W3C trace context, checked: a malformed one is refused rather than
/// silently starting another trace (the caller asked to be joined).
pub(crate) fn trace_of(
    params: &StartParams,
) -> Result<(Option<tether_telemetry::TraceParent>, Option<String>), RunsError> {
    let parent = match &params.traceparent {
        Some(text) => Some(tether_telemetry::TraceParent::parse(text).map_err(|e| invalid("traceparent", e))?),
        None => None,
    };
    let max = tether_telemetry::ids::MAX_TRACESTATE;
    if let Some(state) = &params.tracestate {
        if state.len() > max {
            return Err(invalid("tracestate", format!("{} bytes exceeds the {max} W3C asks to keep", state.len())));
        }
        if parent.is_none() {
            return Err(invalid("tracestate", "given without a traceparent"));
        }
    }
    Ok((parent, params.tracestate.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_resolution_order() {
        let bound = Principal::Agent(AgentId::new("a1"));
        let operator = Principal::Operator;
        let agent = |p: &Principal, id: Option<&str>, name: Option<&str>| {
            resolve_agent(p, id.map(str::to_owned), name.map(str::to_owned)).map(AgentId::into_string)
        };
        assert_eq!(agent(&bound, None, Some("x")).unwrap(), "a1");
        assert!(agent(&bound, Some("a2"), None).is_err());
        assert_eq!(agent(&operator, Some("a3"), Some("x")).unwrap(), "a3");
        assert_eq!(agent(&operator, None, Some("My Agent!")).unwrap(), "name:my-agent");
        assert!(agent(&operator, None, None).is_err());
        assert!(agent(&operator, None, Some("!!")).is_err());
    }
}
