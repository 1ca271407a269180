"""How the client waits between reconnection attempts."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Generator


@dataclasses.dataclass(frozen=True)
class Backoff:
    """How to reconnect: delays grow from ``initial`` by ``factor`` up to ``maximum``
    seconds, each with up to ``jitter`` of itself added at random; ``give_up_after``
    seconds without a connection (None: never) fails waiting calls and streams."""

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.25
    give_up_after: float | None = None

    def delays(self) -> Generator[float, None, None]:
        delay = self.initial
        while True:
            yield delay * (1 + random.uniform(0, self.jitter))
            delay = min(delay * self.factor, self.maximum)
