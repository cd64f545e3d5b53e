"""Per-socket frame budget. It lives in the consumer's memory: a socket is served by one
process for its whole life, so nothing needs sharing through Redis."""

from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """`rate` frames per second sustained, bursts of up to `burst`."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    updated: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def take(self, now: float) -> bool:
        """Spend one token at time `now` (a monotonic clock); False when none is left."""
        if self.updated is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1 - self.tokens) / self.rate)
