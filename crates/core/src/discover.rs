//! The OpenRPC document for `rpc.discover`, generated from the registry.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::registry::Registry;

pub(crate) const OPENRPC_VERSION: &str = "1.3.2";

pub(crate) fn openrpc_document(registry: &Registry) -> Value {
    let mut generator =
        SchemaSettings::draft07().with(|s| s.definitions_path = "/components/schemas".into()).into_generator();
    let methods: Vec<Value> = registry
        .methods
        .iter()
        .map(|(name, entry)| {
            let (params, result) = (entry.schemas)(&mut generator);
            json!({
                "name": name,
                "summary": entry.summary,
                // Params are one content descriptor holding the whole params schema:
                // it is an object for most methods, a bare array for a few.
                "paramStructure": "either",
                "params": [{ "name": "params", "required": true, "schema": params }],
                "result": { "name": "result", "schema": result },
                // Who may call it: "operator" or "authenticated" (OpenRPC allows x- extensions).
                "x-access": match entry.access {
                    crate::registry::Access::Operator => "operator",
                    crate::registry::Access::Authenticated => "authenticated",
                },
                // "read" methods are allowed on a read-only credential; "write" ones are not.
                "x-effect": if entry.reads { "read" } else { "write" },
            })
        })
        .collect();
    // Server → client messages (OpenRPC describes one direction only): an `x-` extension
    // with the same shape, so SDK types cover what the server sends too.
    let server_messages: Vec<Value> = registry
        .outbound
        .iter()
        .map(|(name, entry)| {
            let (params, result) = (entry.schemas)(&mut generator);
            let mut message = json!({
                "name": name,
                "summary": entry.summary,
                "x-kind": if entry.request { "request" } else { "notification" },
                "params": [{ "name": "params", "required": true, "schema": params }],
            });
            if entry.request {
                message["result"] = json!({ "name": "result", "schema": result });
            }
            message
        })
        .collect();
    // Events (inside `events.event`): each kind with its families and payload schema.
    let events: Vec<Value> = registry
        .events
        .iter()
        .map(|kind| {
            json!({
                "kind": kind.name(),
                "families": kind.families().iter().map(|f| f.name()).collect::<Vec<_>>(),
                "summary": kind.summary(),
                "payload": kind.payload_schema(&mut generator),
            })
        })
        .collect();
    json!({
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "tether",
            "version": crate::SERVER_VERSION,
            "description": "JSON-RPC 2.0 over WebSocket for AI agent harnesses",
        },
        "methods": methods,
        "x-server-messages": server_messages,
        "x-events": events,
        "x-error-codes": tether_proto::codes::ALL
            .iter()
            .map(|(code, name, meaning)| json!({ "code": code, "name": name, "message": meaning }))
            .collect::<Vec<_>>(),
        "components": { "schemas": generator.take_definitions(true) },
    })
}
