"""What the checker reports, and the small rules both actor models share. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.history import FaultRecord, Op

HISTORY_LIMIT = 12  # ops quoted in a violation: enough to show it, small enough to read
LOSS_GRACE = 10.0  # seconds after a crash-like fault in which replies may still be lost


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    actor: str
    message: str
    history: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "actor": self.actor,
            "message": self.message,
            "history": list(self.history),
        }


@dataclass(slots=True)
class CheckResult:
    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)
    allowed_losses: int = 0  # snapshot ops lost inside a crash window (permitted)
    unknown_applied: int = 0
    unknown_not_applied: int = 0

    @property
    def ok(self) -> bool:
        return not self.violations


def quote(ops: Iterable[Op]) -> tuple[dict[str, Any], ...]:
    return tuple(o.to_json() for o in list(ops)[:HISTORY_LIMIT])


def loss_windows(
    faults: Sequence[FaultRecord], snapshot_timeout: float, grace: float = LOSS_GRACE
) -> list[tuple[float, float]]:
    """Intervals in which an acknowledged snapshot op may be lost."""
    return [(f.start - snapshot_timeout - 1.0, f.end + grace) for f in faults if f.crash_like]


def in_windows(t: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in windows)


def backwards(actor: str, acked: list[Op], size: Any, result: CheckResult) -> None:
    """For A.end < B.start: size(B) > size(A) if B is a write (it applied one more op after A),
    size(B) >= size(A) if B is a read."""
    by_end = sorted(acked, key=lambda o: o.end)
    best: Op | None = None
    i = 0
    for b in sorted(acked, key=lambda o: o.start):
        while i < len(by_end) and by_end[i].end < b.start:
            if best is None or size(by_end[i]) > size(best):
                best = by_end[i]
            i += 1
        if best is not None and (size(b) < size(best) or (size(b) == size(best) and not b.is_read)):
            result.violations.append(
                Violation(
                    "went-backwards",
                    actor,
                    f"{b.kind} op {b.op} (sent at {b.start:.3f}s) returned {size(b)}, less than "
                    f"{'or equal to ' if not b.is_read else ''}{size(best)} acknowledged to "
                    f"op {best.op} at {best.end:.3f}s",
                    quote([best, b]),
                )
            )
            return
