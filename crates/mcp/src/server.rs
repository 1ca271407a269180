//! The MCP server: `tools/list` from the table, `tools/call` through the backend.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse, ServerCapabilities, ServerConfig,
    SubscribeRequestParams, SubscriptionFilter, Tool, UnsubscribeRequestParams,
};
use rmcp::service::{RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

use crate::backend::{Backend, Failure, Remembered};
use crate::tools::{self, ToolSpec};
use crate::watch::{Watches, watchable};

/// What the operator allows over MCP beyond what the identity may do anyway (`[mcp]`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpOptions {
    /// `session_spawn` starts processes: off unless the operator turns it on.
    pub allow_spawn: bool,
    /// How long one round of `approval_request` waits for the human before answering
    /// `input_required` (2026-07-28 clients retry; older ones wait the whole time).
    pub approval_round_ms: u64,
    /// Resources one MCP connection may watch at once (`resources/subscribe` and
    /// `subscriptions/listen` together); past it a subscription is refused naming this.
    pub max_subscriptions: usize,
}

impl Default for McpOptions {
    fn default() -> McpOptions {
        McpOptions { allow_spawn: false, approval_round_ms: 20_000, max_subscriptions: 32 }
    }
}

/// The backend a request names (in its HTTP extensions): `/mcp` serves many identities.
#[derive(Clone)]
pub struct Caller(pub Arc<dyn Backend>);

#[derive(Clone)]
pub struct TetherMcp {
    backend: Arc<dyn Backend>,
    options: McpOptions,
    /// Resource subscriptions, where the transport can carry notifications (stdio).
    watches: Option<Arc<Watches>>,
}

impl TetherMcp {
    pub fn new(backend: Arc<dyn Backend>, options: McpOptions) -> TetherMcp {
        // One identity for the server's life: whether it may resolve is asked once.
        let backend = Arc::new(Remembered { inner: backend, resolves: tokio::sync::OnceCell::new() });
        TetherMcp { backend, options, watches: None }
    }

    /// Offers resource subscriptions, driven by the daemon's events on `watches`'s connection.
    pub fn with_watches(mut self, watches: Arc<Watches>) -> TetherMcp {
        self.watches = Some(watches);
        self
    }

    /// One tool call: an answer the agent can read, whether the method succeeded or
    /// refused (`isError`); a protocol error only when the daemon cannot be reached.
    pub async fn call(
        &self,
        name: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> Result<CallToolResult, McpError> {
        self.call_as(&self.backend, name, arguments).await
    }

    async fn call_as(
        &self,
        backend: &Arc<dyn Backend>,
        name: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> Result<CallToolResult, McpError> {
        let Some(tool) = tools::find(name) else {
            return Err(McpError::invalid_params(format!("no tool named {name:?}"), None));
        };
        if tool.operator && !backend.may_resolve().await {
            return Ok(refusal(
                &format!(
                    "{name} is the operator's tool: this identity (an agent's or session's token, or a \
                     read-only one) may not call {}; an agent never answers its own approval",
                    tool.method
                ),
                json!({"code": "mcp_operator_only", "method": tool.method}),
            ));
        }
        if tool.name == "session_spawn" && !self.options.allow_spawn {
            return Ok(refusal(
                "session_spawn is off: the operator enables it with `[mcp] allow_spawn = true` \
                 (or `tether mcp --allow-spawn`)",
                json!({"code": "mcp_spawn_disabled"}),
            ));
        }
        answer(tool, tool.method, backend.call(tool.method, (tool.params)(arguments)).await)
    }
}

impl TetherMcp {
    /// The caller a request names (over `/mcp`), else this server's own backend.
    fn backend_for(&self, context: &RequestContext<RoleServer>) -> Arc<dyn Backend> {
        let caller =
            context.extensions.get::<http::request::Parts>().and_then(|parts| parts.extensions.get::<Caller>());
        caller.map_or_else(|| self.backend.clone(), |caller| caller.0.clone())
    }
}

/// A method's answer as the tool's result (`method` may be another than the tool's own:
/// a later round of `approval_request` is `approvals.wait`).
pub(crate) fn answer(tool: &ToolSpec, method: &str, reply: Result<Value, Failure>) -> Result<CallToolResult, McpError> {
    match reply {
        Ok(result) => Ok(success(tool, result)),
        Err(Failure::Rpc { code, message, data }) => {
            let text = format!("{method} refused ({code}): {message}");
            Ok(refusal(&text, json!({"code": code, "message": message, "data": data})))
        }
        Err(Failure::Unavailable(why)) => Err(McpError::internal_error(format!("tether is unavailable: {why}"), None)),
    }
}

fn success(tool: &ToolSpec, result: Value) -> CallToolResult {
    let (_, _, wrapped) = (tool.schemas)();
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    // "No such run" (or not this identity's to see) is an answer the agent acts on.
    let missing = result.get("not_found") == Some(&Value::Bool(true));
    let structured = if wrapped { json!({ "result": result }) } else { result };
    let mut answer = if missing {
        CallToolResult::error(vec![ContentBlock::text(format!("not found (or not yours to see): {text}"))])
    } else {
        CallToolResult::success(vec![ContentBlock::text(text)])
    };
    answer.structured_content = Some(structured);
    answer
}

fn refusal(text: &str, error: Value) -> CallToolResult {
    let mut answer = CallToolResult::error(vec![ContentBlock::text(text)]);
    answer.structured_content = Some(json!({ "error": error }));
    answer
}

/// Whether the request's peer speaks 2026-07-28 or later (`input_required`, `listen`).
pub(crate) fn modern(context: &RequestContext<RoleServer>) -> bool {
    context.protocol_version().is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

fn to_tool(spec: &ToolSpec) -> Tool {
    let (input, output, _) = (spec.schemas)();
    Tool::new(spec.name, spec.description, Arc::new(input))
        .with_raw_output_schema(Arc::new(output))
        .with_annotations(spec.annotations())
}

impl ServerHandler for TetherMcp {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder().enable_tools().enable_resources().enable_prompts().build();
        if self.watches.is_some()
            && let Some(resources) = capabilities.resources.as_mut()
        {
            resources.subscribe = Some(true);
        }
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("tether", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "tether orchestrates AI agent runs and sessions. List and read runs and sessions, \
                 ask the policy before acting (policy_check), report context use, delegate.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        // The operator's tools are listed only to an identity the daemon lets call them.
        let operator = self.backend_for(&context).may_resolve().await;
        let listed = tools::TOOLS.iter().filter(|tool| operator || !tool.operator);
        Ok(ListToolsResult::with_all_items(listed.map(to_tool).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let mut arguments = request.arguments.unwrap_or_default();
        // MCP carries W3C Trace Context in `_meta` (SEP-414): a run started here joins it.
        // (rmcp moves a request's `_meta` onto its context.)
        if request.name == "run_start" {
            let meta = request.meta.as_ref().map_or(&context.meta, |m| m);
            for (key, value) in [("traceparent", meta.0.get_traceparent()), ("tracestate", meta.0.get_tracestate())] {
                if let Some(value) = value {
                    arguments.entry(key).or_insert(value.into());
                }
            }
        }
        let backend = self.backend_for(&context);
        // Asking a human can take long: a client of 2026-07-28 gets `input_required`
        // between rounds instead of one request held open (unless it chose `wait_ms`).
        if request.name == "approval_request" && modern(&context) && !arguments.contains_key("wait_ms") {
            let round = self.options.approval_round_ms;
            return crate::asking::in_rounds(backend.as_ref(), arguments, request.request_state, round).await;
        }
        Ok(self.call_as(&backend, &request.name, arguments).await?.into())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(crate::resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let backend = self.backend_for(&context);
        Ok(crate::resources::read(backend.as_ref(), &request.uri).await?.into())
    }

    #[allow(deprecated)] // 2025-11-25's way, still what clients of that generation use
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let Some(watches) = &self.watches else {
            return Err(McpError::invalid_request(
                "resource subscriptions are offered over `tether mcp` (stdio) only",
                None,
            ));
        };
        // Only what this identity may read: reading it first says so (or why not).
        let backend = self.backend_for(&context);
        crate::resources::read(backend.as_ref(), &request.uri).await?;
        watches.subscribe(&request.uri, context.peer.clone()).await
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Some(watches) = &self.watches {
            watches.unsubscribe(&request.uri);
        }
        Ok(())
    }

    /// 2026-07-28's `subscriptions/listen`: the tether resources asked for (others are
    /// not honoured; the acknowledgment says which were).
    fn accepted_subscription_filter(&self, requested: &SubscriptionFilter) -> Option<SubscriptionFilter> {
        let watches = self.watches.as_ref()?;
        let mut uris: Vec<String> =
            requested.resource_subscriptions.iter().flatten().filter(|uri| watchable(uri)).cloned().collect();
        if watches.check(uris.len()).is_err() {
            // rmcp acknowledges before `listen` runs: honour nothing, and `listen` refuses
            // naming the limit.
            uris.clear();
        }
        let mut accepted = SubscriptionFilter::new();
        accepted.resource_subscriptions = Some(uris);
        Some(accepted)
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let Some(watches) = &self.watches else { return Ok(()) };
        let uris = context.accepted().resource_subscriptions.clone().unwrap_or_default();
        let asked = context.requested().resource_subscriptions.iter().flatten().filter(|uri| watchable(uri)).count();
        if uris.len() < asked {
            watches.check(asked)?;
        }
        let _listening = watches.listen(uris, context.sink().clone()).await?;
        context.cancelled().await;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(crate::resources::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let backend = self.backend_for(&context);
        let arguments = request.arguments.unwrap_or_default();
        Ok(crate::resources::prompt(backend.as_ref(), &request.name, &arguments).await?.into())
    }
}
