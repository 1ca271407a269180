import asyncio

import tether


async def main() -> None:
    async with tether.connect() as client:  # the daemon and token, found as the CLI finds them

        @client.tool(description="Shout text back")
        async def shout(text: str) -> str:
            return text.upper()

        async with client.run("say hello", agent_name="quickstart") as run:
            results = await run.submit([tether.call("shout", text="hello")])
            print(results[0]["status"], results[0]["output"], run.id)


asyncio.run(main())
