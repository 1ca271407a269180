"""An MCP client made with the official Python SDK (`mcp` on PyPI), for tests/mcp.rs.

Reads a plan (JSON) from argv[1]: how to reach the server (`command`/`args`/`env` for
stdio, or `url`/`headers` for Streamable HTTP), the protocol generation (`mode`:
"legacy" for the initialize handshake, "auto" for server/discover), and `calls`
([tool, arguments] pairs). Prints one JSON document: the negotiated protocol version,
the tools as listed, and each call's result as the SDK parsed it; with `read` (URIs) and
`prompts` ([name, arguments] pairs), the resource templates, each read and each prompt.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


async def main(plan: dict) -> dict:
    if "url" in plan:
        http = httpx2.AsyncClient(headers=plan.get("headers", {}), timeout=30)
        server = streamable_http_client(plan["url"], http_client=http)
    else:
        env = dict(plan.get("env", {}))
        # Inside a managed session: hand the bridge the session's own URL and token.
        env.update({k: os.environ[k] for k in plan.get("inherit_env", []) if k in os.environ})
        server = StdioServerParameters(command=plan["command"], args=plan["args"], env=env)
    async with Client(server, mode=plan["mode"]) as client:
        tools = await client.list_tools()
        results = []
        # A call is [tool, arguments] or [tool, arguments, _meta].
        for name, arguments, *meta in plan["calls"]:
            result = await client.call_tool(name, arguments, meta=meta[0] if meta else None)
            results.append(result.model_dump(mode="json", by_alias=True, exclude_none=True))
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
                reads.append(read.model_dump(mode="json", by_alias=True, exclude_none=True))
            except Exception as error:  # an MCP error the test asserts on
                reads.append({"error": str(error)})
        for name, arguments in plan.get("prompts", []):
            got = await client.get_prompt(name, arguments)
            prompts.append(got.model_dump(mode="json", by_alias=True, exclude_none=True))
        return {
            "templates": templates,
            "reads": reads,
            "prompts": prompts,
            "protocol": client.protocol_version,
            "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.tools],
            "results": results,
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
