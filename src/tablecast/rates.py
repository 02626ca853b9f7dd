"""How often one viewer or one client address may do a thing: token buckets. No I/O.

A bucket holds up to ``burst`` tokens and gains ``rate`` a second; each act takes one. Page
requests are counted per viewer; new documents and wrong edit keys per client address, so that
one address cannot fill the store or guess at keys faster than its share.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Bucket:
    __slots__ = ("burst", "rate", "refilled", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.refilled = now

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now

    def take(self, now: float) -> bool:
        """Take a token if there is one."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    def spend(self, amount: float) -> None:
        """Take ``amount`` tokens, going below zero if need be (work already done)."""
        self.tokens -= amount

    def wait(self, now: float) -> float:
        """Seconds until a token is there."""
        self._refill(now)
        return max(0.0, (1 - self.tokens) / self.rate)

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


class Buckets:
    """A bucket per key (a client address), made on first use. Buckets that have filled up
    again are forgotten now and then, so that a million addresses that came once hold nothing.
    ``rate`` 0: no limit."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._tidy_at = 1024  # how many buckets before the full ones are forgotten

    def take(self, key: str) -> bool:
        if not self.rate:
            return True
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._tidy_at:
                self._forget_full(now)
            bucket = self._buckets[key] = Bucket(self.rate, self.burst, now)
        return bucket.take(now)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` may act again (0: now)."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None or not self.rate else bucket.wait(self.clock())

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget_full(self, now: float) -> None:
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}
        # amortised: the next tidy comes once as many buckets again have been made
        self._tidy_at = max(1024, 2 * len(self._buckets))
