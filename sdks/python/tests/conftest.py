"""The real `tether` binary on a temporary data directory, and async tests without plugins.

The binary is `$TETHER_BIN`, else the workspace's `target/debug/tether` (scripts/test
builds it). Tests are plain `async def` functions, each run on a fresh event loop under a
deadline, so a hung test fails instead of hanging CI.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
#: Seconds any one test may take before it fails.
DEADLINE = float(os.environ.get("TETHER_TEST_DEADLINE", "60"))


def binary() -> Path:
    path = Path(os.environ.get("TETHER_BIN", REPO / "target" / "debug" / "tether"))
    if not path.exists():
        pytest.exit(f"no tether binary at {path}: run `cargo build` or set TETHER_BIN", returncode=2)
    return path


class Daemon:
    """A `tether serve` child on a loopback port and a Unix socket, with auth on."""

    def __init__(self, data_dir: Path, port: int = 0, extra: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra = extra or []
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.start(port)

    def start(self, port: int = 0) -> None:
        args = [str(binary()), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(self.data_dir), *self.extra]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the readiness line: it is accepting now
        prefix = "tether listening on "
        if not line.startswith(prefix):
            self.process.kill()
            raise RuntimeError(f"no readiness line ({line!r}); log:\n{self.log.read_text()}")
        self.url = line[len(prefix) :].strip()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def socket(self) -> Path:
        return self.data_dir / "tether.sock"

    @property
    def token(self) -> str:
        return (self.data_dir / "auth-token").read_text().strip()

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """One daemon for the test session (tests use their own agent ids to stay apart)."""
    root = Path(tempfile.mkdtemp(prefix="tether-py-"))
    os.chmod(root, 0o700)
    # A short slack after a tool's timeout_ms, so a timed-out tool is cancelled quickly.
    (root / "tether.toml").write_text("[runs]\nwait_slack_ms = 100\n")
    daemon = Daemon(root / "data", extra=["--config", str(root / "tether.toml")])
    yield daemon
    daemon.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon for this test alone (one that gets killed)."""
    os.chmod(tmp_path, 0o700)
    daemon = Daemon(tmp_path / "data")
    yield daemon
    daemon.stop()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Discovery reads these; tests say explicitly what they mean.
    for name in ("TETHER_URL", "TETHER_TOKEN", "TETHER_HOME"):
        monkeypatch.delenv(name, raising=False)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs: dict[str, Any] = {name: pyfuncitem.funcargs[name] for name in names}

    async def bounded() -> None:
        asyncio.get_running_loop().set_exception_handler(_report)
        async with asyncio.timeout(DEADLINE):
            await pyfuncitem.obj(**kwargs)

    asyncio.run(bounded())
    gc.collect()
    if UNHANDLED:
        pytest.fail(_unhandled())
    return True


#: What asyncio reported to no one (a future's exception never retrieved, a task
#: destroyed while pending): it fails the test that left it, or, when it is only
#: collected later, the session, instead of passing as a line of output at exit.
UNHANDLED: list[dict[str, Any]] = []


def _report(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    UNHANDLED.append(context)


def _unhandled() -> str:
    text = "asyncio reported, unhandled: " + "; ".join(f"{c.get('message')} {c.get('exception')!r}" for c in UNHANDLED)
    UNHANDLED.clear()
    return text


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.collect()
    if UNHANDLED:
        print(f"\n{_unhandled()}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
