"""An MCP client made with the official Python SDK (`mcp` on PyPI), for tests/mcp.rs.

Reads a plan (JSON) from argv[1]: how to reach the server (`command`/`args`/`env` for
stdio, or `url`/`headers` for Streamable HTTP), the protocol generation (`mode`:
"legacy" for the initialize handshake, "auto" for server/discover), and `calls`
([tool, arguments] pairs). Prints one JSON document: the negotiated protocol version,
the tools as listed, and each call's result as the SDK parsed it; with `read` (URIs) and
`prompts` ([name, arguments] pairs), the resource templates, each read and each prompt.
With `rounds` ([tool, arguments]) it drives a call's `input_required` rounds itself and
reports each round's result type. With `watch` ({"how": "subscribe" or "listen",
"uris": [...]}) it watches resources, prints {"ready": ...} (what was refused, if
anything), and waits for the first `notifications/resources/updated` before answering.
"""

import asyncio
import json
import os
import sys

import anyio
import httpx2
import mcp_types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


async def main(plan: dict) -> dict:
    if "url" in plan:
        headers = dict(plan.get("headers", {}))
        if "bearer_env" in plan:  # inside a managed session: its own token
            headers["Authorization"] = f"Bearer {os.environ[plan['bearer_env']]}"
        # `ca_file`: a private CA for an https:// URL (the daemon's own TLS).
        verify = plan.get("ca_file", True)
        http = httpx2.AsyncClient(headers=headers, timeout=30, verify=verify)
        server = streamable_http_client(plan["url"], http_client=http)
    else:
        env = dict(plan.get("env", {}))
        # Inside a managed session: hand the bridge the session's own URL and token.
        env.update(
            {k: os.environ[k] for k in plan.get("inherit_env", []) if k in os.environ}
        )
        server = StdioServerParameters(
            command=plan["command"], args=plan["args"], env=env
        )
    updates: list[str] = []
    updated = anyio.Event()

    async def on_message(message) -> None:
        # 2025-11-25's subscriptions notify through the message handler.
        if isinstance(message, mcp_types.ResourceUpdatedNotification):
            updates.append(message.params.uri)
            updated.set()

    async with Client(server, mode=plan["mode"], message_handler=on_message) as client:
        tools = await client.list_tools()
        if "watch" in plan:
            return {
                "protocol": client.protocol_version,
                **await watch(client, plan["watch"], updates, updated),
            }
        if "rounds" in plan:
            return {
                "protocol": client.protocol_version,
                **await rounds(client, *plan["rounds"]),
            }
        results = []
        # A call is [tool, arguments] or [tool, arguments, _meta].
        for name, arguments, *meta in plan["calls"]:
            result = await client.call_tool(
                name, arguments, meta=meta[0] if meta else None
            )
            results.append(
                result.model_dump(mode="json", by_alias=True, exclude_none=True)
            )
        templates = []
        reads = []
        prompts = []
        if plan.get("read") or plan.get("prompts"):
            listed = await client.list_resource_templates()
            templates = [t.uri_template for t in listed.resource_templates]
            names = await client.list_prompts()
            prompts.append([p.name for p in names.prompts])
        for uri in plan.get("read", []):
            try:
                read = await client.read_resource(uri)
                reads.append(
                    read.model_dump(mode="json", by_alias=True, exclude_none=True)
                )
            except Exception as error:  # an MCP error the test asserts on
                reads.append({"error": str(error)})
        for name, arguments in plan.get("prompts", []):
            got = await client.get_prompt(name, arguments)
            prompts.append(
                got.model_dump(mode="json", by_alias=True, exclude_none=True)
            )
        return {
            "templates": templates,
            "reads": reads,
            "prompts": prompts,
            "protocol": client.protocol_version,
            "capabilities": client.server_capabilities.model_dump(
                mode="json", by_alias=True, exclude_none=True
            ),
            "tools": [
                t.model_dump(mode="json", by_alias=True, exclude_none=True)
                for t in tools.tools
            ],
            "results": results,
        }


def ready(refused: list[str]) -> None:
    print(json.dumps({"ready": True, "refused": refused}), flush=True)


async def watch(
    client: Client, watch: dict, updates: list[str], updated: anyio.Event
) -> dict:
    refused: list[str] = []
    with anyio.fail_after(30):
        if watch["how"] == "subscribe":
            for uri in watch["uris"]:
                try:
                    await client.session.subscribe_resource(uri)
                except Exception as error:  # a refusal the test asserts on
                    refused.append(str(error))
            ready(refused)
            if watch.get("only_ready"):
                return {"updated": [], "refused": refused}
            await updated.wait()
            return {"updated": updates, "refused": refused}
        try:
            async with client.listen(resource_subscriptions=watch["uris"]) as sub:
                if not sub.honored.resource_subscriptions:
                    # Nothing honoured: the listen's answer (an error) says why.
                    async for _ in sub:
                        pass
                ready(refused)
                async for event in sub:
                    return {
                        "updated": [event.uri],
                        "honored": sub.honored.resource_subscriptions,
                    }
        except Exception as error:  # a refusal the test asserts on
            # After the acknowledgment the SDK raises SubscriptionLost from the server's error.
            refused.append(str(error.__cause__ or error))
            ready(refused)
        return {"updated": [], "refused": refused}


async def rounds(client: Client, name: str, arguments: dict) -> dict:
    """Calls `name` and retries while it answers input_required, as the SDK's own driver does."""
    kinds: list[str] = []
    state = None
    while True:
        result = await client.session.call_tool(
            name, arguments, request_state=state, allow_input_required=True
        )
        if isinstance(result, mcp_types.InputRequiredResult):
            if not kinds:
                ready([])  # the first round ended unanswered: the test answers now
            kinds.append("input_required")
            state = result.request_state
            continue
        kinds.append("complete")
        return {
            "rounds": kinds,
            "state": state,
            "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
