"""A smoke test of an installed tether-client: starts `$TETHER_BIN serve` on a temporary
data directory, registers one tool, runs one call through it, and stops the daemon.

    TETHER_BIN=target/release/tether /some/venv/bin/python sdks/python/scripts/smoke.py

It checks that `tether` was imported from the interpreter's own site-packages (the
installed wheel or sdist), not from a source tree. Exits non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import tether


async def one_call(url: str, token: str) -> None:
    async with tether.connect(url, token=token, agent_id="smoke") as client:

        @client.tool(description="Echo text back")
        async def echo(text: str) -> dict[str, str]:
            return {"echo": text}

        async with client.run("smoke test") as run:
            results = await asyncio.wait_for(run.submit([tether.call("echo", text="hi")]), 30)
        assert results[0]["status"] == "succeeded", results[0]
        assert results[0]["output"] == {"echo": "hi"}, results[0]
        assert await client.call("server.ping") == "pong"


def main() -> None:
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    where = Path(tether.__file__).resolve()
    if site not in where.parents:
        sys.exit(f"tether was imported from {where}, not from this interpreter's {site}")
    binary = os.environ.get("TETHER_BIN", "tether")
    with tempfile.TemporaryDirectory(prefix="tether-smoke-") as root:
        os.chmod(root, 0o700)
        data = Path(root) / "data"
        daemon = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert daemon.stdout is not None
            line = daemon.stdout.readline()  # the readiness line: it is accepting now
            prefix = "tether listening on "
            if not line.startswith(prefix):
                sys.exit(f"{binary}: no readiness line ({line!r})")
            url = line[len(prefix) :].strip()
            token = (data / "auth-token").read_text().strip()
            asyncio.run(one_call(url, token))
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
        if code != 0:
            sys.exit(f"{binary} exited {code} on SIGTERM")
    print(f"smoke: tether-client {tether.__version__} from {where.parent}: one tool call, ok")


if __name__ == "__main__":
    main()
