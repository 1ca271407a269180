"""Where the daemon is and which token to use, found the way the ``tether`` CLI finds them.

Endpoint: ``url`` or ``socket`` if given, else ``$TETHER_URL``, else the Unix socket in the
data directory when it exists, else ``ws://127.0.0.1:9100``. Token: ``token`` if given,
else ``$TETHER_TOKEN``, else the data directory's ``auth-token``. The data directory is
``data_dir``, else ``$TETHER_HOME``, else ``$XDG_DATA_HOME/tether`` (``~/.local/share/tether``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "ws://127.0.0.1:9100"


@dataclass(frozen=True)
class Endpoint:
    """A WebSocket URL, or a Unix socket path (then ``url`` is only the request target)."""

    url: str
    socket: Path | None = None

    def __str__(self) -> str:
        return f"unix:{self.socket}" if self.socket else self.url


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit is not None:
        return Path(explicit)
    home = os.environ.get("TETHER_HOME")
    if home:
        return Path(home)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "tether"


def endpoint(
    url: str | None = None,
    socket: str | os.PathLike[str] | None = None,
    data_directory: str | os.PathLike[str] | None = None,
) -> Endpoint:
    if url:
        return Endpoint(url)
    if socket is not None:
        return Endpoint("ws://localhost/", Path(socket))
    env_url = os.environ.get("TETHER_URL")
    if env_url:
        return Endpoint(env_url)
    candidate = data_dir(data_directory) / "tether.sock"
    if candidate.exists():
        return Endpoint("ws://localhost/", candidate)
    return Endpoint(DEFAULT_URL)


@dataclass(frozen=True)
class Token:
    """The token found, and where: ``token=``, ``$TETHER_TOKEN`` or a file's path. With no
    token, ``source`` says where the search looked (for an error that says what to set)."""

    value: str | None
    source: str


def token(explicit: str | None = None, data_directory: str | os.PathLike[str] | None = None) -> Token:
    """The token; its value is None when there is none to find (a daemon run with ``--no-auth``)."""
    if explicit:
        return Token(explicit, "token=")
    env = os.environ.get("TETHER_TOKEN")
    if env:
        return Token(env, "$TETHER_TOKEN")
    path = data_dir(data_directory) / "auth-token"
    try:
        return Token(path.read_text().strip() or None, str(path))
    except FileNotFoundError:
        return Token(None, f"$TETHER_TOKEN (unset) and {path} (no such file)")


def session_identity(found: Token, agent_id: str | None) -> None:
    """Inside a managed session, ``$TETHER_TOKEN`` is the session's own token, bound to the
    agent ``session:<id>``: another ``agent_id`` is refused here, naming both, rather than
    by the daemon after the connection is open."""
    session = os.environ.get("TETHER_SESSION_ID")
    if not session or found.source != "$TETHER_TOKEN" or agent_id is None:
        return
    bound = f"session:{session}"
    if agent_id != bound:
        raise ValueError(
            f"this process runs in the managed session {session}, whose token ($TETHER_TOKEN) is bound "
            f'to agent "{bound}", not "{agent_id}": leave agent_id out to act as the session, '
            "or pass another token explicitly"
        )
