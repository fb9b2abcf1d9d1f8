"""Per-key rate limits: a token bucket for each API key.

Each key may make ``burst`` requests at once and ``rate`` per second over time; past that
it is answered 429 with ``Retry-After`` (the seconds until a request would be taken). The
buckets live in the API process's memory: a limit protects Temporal and the workers from
one caller, and restarting the API forgives everyone, which is harmless.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from settings import API_BURST_ENV, API_RATE_ENV, DEFAULT_API_BURST, DEFAULT_API_RATE, Settings


@dataclass(frozen=True)
class RateLimit:
    rate: float = DEFAULT_API_RATE
    burst: int = DEFAULT_API_BURST

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"{API_RATE_ENV}: expected requests per second > 0, got {self.rate}")
        if self.burst < 1:
            raise ValueError(
                f"{API_BURST_ENV}: expected a number of requests >= 1, got {self.burst}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimit:
        """``PARTY_ORDERS_API_RATE`` and ``PARTY_ORDERS_API_BURST``; ValueError naming them."""
        return cls(*settings.api_rate_limit())


class RateLimiter:
    """Token buckets by key id."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, at)
        self._lock = threading.Lock()  # uvicorn runs one loop, but tests may share an app

    def take(self, key_id: str) -> float:
        """Take one request for ``key_id``: 0.0 when taken, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key_id, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self.limit.rate
