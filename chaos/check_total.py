"""Checks for `total` actors (`counter`, `tally`): every op adds 1, each reply is the new total.

Without op ids the checker bounds totals instead of tracking ops: a reply counts at least every
op acknowledged before it was sent (plus its own), at most every op sent before it ended.
"""

from __future__ import annotations

import bisect

from chaos.history import Op
from chaos.verdict import CheckResult, Violation, backwards, in_windows, quote


def check_total(
    actor: str,
    history: list[Op],
    final: int,
    sync: bool,
    windows: list[tuple[float, float]],
    result: CheckResult,
) -> None:
    acked = [o for o in history if o.outcome == "ok"]
    writes = [o for o in acked if not o.is_read]
    maybe = [o for o in history if not o.is_read and not (o.outcome == "fail" and o.definite)]
    if len(maybe) < final:
        result.violations.append(
            Violation(
                "duplicate",
                actor,
                f"final total {final} exceeds the {len(maybe)} ops that may have been "
                "applied (an op applied twice, or a refused one applied)",
                quote(acked[-3:]),
            )
        )
    starts = sorted(o.start for o in maybe)
    for o in acked:
        could = bisect.bisect_left(starts, o.end)
        if o.value > could:
            result.violations.append(
                Violation(
                    "duplicate",
                    actor,
                    f"op {o.op} returned total {o.value} but only {could} ops had been sent",
                    quote([o]),
                )
            )
            break
    if sync:
        if final < len(writes):
            result.violations.append(
                Violation(
                    "lost-update",
                    actor,
                    f"final total {final} < {len(writes)} acknowledged increments",
                    quote(acked[-5:]),
                )
            )
        top = max(acked, key=lambda o: o.value, default=None)
        if top is not None and final < top.value:
            result.violations.append(
                Violation(
                    "lost-update",
                    actor,
                    f"final total {final} < total {top.value} acknowledged to op {top.op}",
                    quote([top]),
                )
            )
        backwards(actor, acked, lambda o: o.value, result)
        _stale(actor, acked, result)
        return
    allowed = sum(1 for o in writes if in_windows(o.end, windows))
    if final < len(writes) - allowed:
        result.violations.append(
            Violation(
                "lost-update",
                actor,
                f"final total {final} < {len(writes)} acknowledged minus {allowed} "
                "acknowledged inside crash windows",
                quote(acked[-5:]),
            )
        )
    result.allowed_losses += max(0, min(allowed, len(writes) - final))
    if not windows:  # no crash: a snapshot actor must behave like a sync one
        backwards(actor, acked, lambda o: o.value, result)


def _stale(actor: str, acked: list[Op], result: CheckResult) -> None:
    """A sync reply includes every increment acknowledged before it was sent (plus its own)."""
    ends = sorted(o.end for o in acked if not o.is_read)
    for b in sorted(acked, key=lambda o: o.start):
        before = bisect.bisect_left(ends, b.start)
        if b.value < before + (0 if b.is_read else 1):
            result.violations.append(
                Violation(
                    "stale-read" if b.is_read else "lost-update",
                    actor,
                    f"{b.kind} op {b.op} returned total {b.value}, but {before} increments had "
                    "been acknowledged before it was sent",
                    quote([b]),
                )
            )
            return
