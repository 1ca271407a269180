"""The README's quickstart and examples/harness.py, run as written against the daemon."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import REPO, Daemon

SDK = REPO / "sdks" / "python"


def block(text: str, after: str, lang: str) -> str:
    start = text.index(f"```{lang}\n", text.index(after)) + len(lang) + 4
    return text[start : text.index("```", start)]


def run_python(daemon: Daemon, args: list[str]) -> str:
    env = {**os.environ, "TETHER_URL": daemon.url, "TETHER_TOKEN": daemon.token}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readme_quickstart_prints_what_the_readme_says(daemon: Daemon) -> None:
    readme = (SDK / "README.md").read_text()
    code, expected = block(readme, "## Quickstart", "python"), block(readme, "## Quickstart", "text")
    assert run_python(daemon, ["-c", code]) == expected


def test_the_example_harness_runs(daemon: Daemon) -> None:
    output = run_python(daemon, [str(REPO / "examples" / "harness.py")]).splitlines()
    assert output == ["succeeded {'echoed': 'hello'}", "started", "turn echo succeeded", "ended"]


def test_the_package_builds_a_wheel_that_carries_its_types(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*args, "-w", str(tmp_path), str(SDK)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("tether_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tether/py.typed" in names and "tether/_protocol.py" in names
