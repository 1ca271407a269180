import asyncio, itertools, json, os, pathlib, websockets

URL = os.environ.get("TETHER_URL", "ws://127.0.0.1:9100")
TOKEN = os.environ.get("TETHER_TOKEN") or (pathlib.Path.home() / ".local/share/tether/auth-token").read_text().strip()

async def main():
    async with websockets.connect(URL) as ws:
        ids, waiting = itertools.count(), {}

        async def call(method, params):
            id = next(ids)
            reply = waiting[id] = asyncio.get_running_loop().create_future()
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            reply = await reply
            if "error" in reply:
                raise RuntimeError(reply["error"])
            return reply["result"]

        async def read():  # replies go to their callers; tools.execute runs the tool
            async for text in ws:
                msg = json.loads(text)
                if msg.get("method") == "tools.execute":
                    p = msg["params"]
                    result = {"echoed": p["parameters"]}  # run the tool here
                    await ws.send(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
                elif msg.get("id") in waiting:
                    waiting.pop(msg["id"]).set_result(msg)

        reader = asyncio.create_task(read())
        await call("session.auth", {"token": TOKEN, "agent_id": "demo-agent"})
        await call("server.handshake", {"protocol_version": 3})
        await call("tools.register", [{"name": "echo", "parameters": {"type": "object"}}])
        run = await call("runs.start", {"intent": "say hello"})
        done = await call("proposal.submit", {"proposal": {"actions": [
            {"id": "a1", "type": "tool_call", "tool": "echo", "parameters": {"prompt": "hello"}}]}})
        print(done["results"])
        await call("runs.complete", {"run_id": run["run_id"], "outcome": {"status": "success", "summary": "said hello"}})
        trace = await call("runs.get_trace", {"run_id": run["run_id"]})
        for record in reversed(trace["records"]):
            print(record["record"], record.get("tool", ""), record.get("status", ""))
        reader.cancel()

asyncio.run(main())
