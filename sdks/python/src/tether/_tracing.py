"""OpenTelemetry, when the application has it (``pip install tether-client[otel]``).

The daemon gives every ``tools.execute`` the ``traceparent`` of its ``execute_tool``
span; a tool function runs with that as its current context, so the spans the
application makes inside it continue the run's trace. ``start_run`` sends the
current span's ``traceparent`` (or, with no span, a managed session's
``TRACEPARENT``) so the run joins the application's trace. Without
``opentelemetry-api`` installed all of this is a no-op.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from typing import Any


def _load(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# Imported by name so the SDK neither needs nor type-checks against the package.
_context = _load("opentelemetry.context")
_propagate = _load("opentelemetry.propagate")


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, else ``$TRACEPARENT``, else None."""
    if _propagate is not None:
        carrier: dict[str, str] = {}
        _propagate.inject(carrier)
        if carrier.get("traceparent"):
            return carrier["traceparent"]
    return os.environ.get("TRACEPARENT") or None


@contextlib.contextmanager
def continued(traceparent: object) -> Iterator[None]:
    """Makes ``traceparent`` the current context for the block (when OpenTelemetry is there)."""
    if _propagate is None or _context is None or not isinstance(traceparent, str):
        yield
        return
    token = _context.attach(_propagate.extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        _context.detach(token)
