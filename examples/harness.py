"""A harness on the Python SDK: a tool, a run, a proposal, and the run's trace.

    pip install ./sdks/python
    python3 examples/harness.py        # finds the daemon and token like the `tether` CLI

It connects as agent `demo-agent`, registers `echo`, runs one proposal in a run that is
completed `success` when the block ends, then prints the trace oldest first.
"""

import asyncio

import tether


async def main() -> None:
    async with tether.connect(agent_id="demo-agent") as client:

        @client.tool(description="Echo the prompt back")
        async def echo(prompt: str) -> dict[str, str]:
            return {"echoed": prompt}

        async with client.run("say hello") as run:
            results = await run.submit([tether.call("echo", prompt="hello").options(id="a1")])
            print(results[0]["status"], results[0]["output"])

        async for record in client.trace(run.id):
            if record["record"] == "turn":
                print(record["record"], record["tool"], record["status"])
            else:
                print(record["record"])


if __name__ == "__main__":
    asyncio.run(main())
