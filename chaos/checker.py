"""The history checker: pure functions from a recorded run to violations.

Rules (DESIGN.md "Cluster"):

- `sync` actors: every acknowledged op is in the final state; no acknowledged reply went
  backwards (a reply that completed before another started must be contained in it); every
  acknowledged reply of a log actor lies on one linear history (no split brain).
- `snapshot` actors: acknowledged ops may be lost only around a crash-like fault (kill -9, a
  pause or a network fault that lets peers declare the node failed), acknowledged at most
  `snapshot_timeout` before it; a lost op never comes back.
- every actor: no op applied twice, no op that was never sent, no op that was refused (4xx or
  never delivered); no 500 from valid input.
- after healing: every node sees every member active, all nodes name the same owner for every
  actor, and every actor answers.

Ops whose outcome is unknown (timeout, connection lost after sending) may or may not count.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.history import Convergence, FaultRecord, Op, template

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


def _quote(ops: Iterable[Op]) -> tuple[dict[str, Any], ...]:
    return tuple(o.to_json() for o in list(ops)[:HISTORY_LIMIT])


def loss_windows(
    faults: Sequence[FaultRecord], snapshot_timeout: float, grace: float = LOSS_GRACE
) -> list[tuple[float, float]]:
    """Intervals in which an acknowledged snapshot op may be lost."""
    return [(f.start - snapshot_timeout - 1.0, f.end + grace) for f in faults if f.crash_like]


def _in_windows(t: float, windows: Sequence[tuple[float, float]]) -> bool:
    return any(a <= t <= b for a, b in windows)


def check(
    ops: Sequence[Op],
    finals: Mapping[str, Any],
    faults: Sequence[FaultRecord] = (),
    convergence: Convergence | None = None,
    *,
    loss_grace: float = LOSS_GRACE,
) -> CheckResult:
    """Check a whole run. `finals` maps every actor to its value read after healing (None if it
    did not answer)."""
    result = CheckResult()
    by_actor: dict[str, list[Op]] = {}
    for o in ops:
        by_actor.setdefault(o.actor, []).append(o)
        if o.outcome == "fail" and o.error is not None and o.error.startswith("500"):
            result.violations.append(
                Violation(
                    "server-error", o.actor, f"op {o.op}: {o.error} from valid input", _quote([o])
                )
            )
    for actor in sorted(set(by_actor) | set(finals)):
        history = sorted(by_actor.get(actor, []), key=lambda o: (o.start, o.op))
        final = finals.get(actor)
        if final is None:
            result.violations.append(
                Violation("no-answer", actor, "the actor did not answer after healing")
            )
            continue
        if not history:
            continue
        t = template(history[0].template)
        windows = loss_windows(faults, t.snapshot_timeout, loss_grace)
        if t.model == "log":
            _check_log(actor, history, list(final), t.durability == "sync", windows, result)
        else:
            _check_total(actor, history, int(final), t.durability == "sync", windows, result)
    if convergence is not None:
        _check_convergence(convergence, result)
    return result


# --- log actors: replies carry the full list of applied op ids -----------------------------------


def _check_log(
    actor: str,
    history: list[Op],
    final: list[int],
    sync: bool,
    windows: list[tuple[float, float]],
    result: CheckResult,
) -> None:
    acked = [o for o in history if o.outcome == "ok"]
    sent = {o.op for o in history}
    refused = {o.op for o in history if o.outcome == "fail" and o.definite}
    by_id = {o.op: o for o in history}
    for o in acked:
        if not o.value or o.value[-1] != o.op:
            result.violations.append(
                Violation(
                    "wrong-reply", actor, f"op {o.op}'s reply does not end with it", _quote([o])
                )
            )
    for label, ids, who in [(f"reply to op {o.op}", o.value, [o]) for o in acked] + [
        ("final state", final, [])
    ]:
        dup = [k for k, n in Counter(ids).items() if n > 1]
        if dup:
            result.violations.append(
                Violation(
                    "duplicate",
                    actor,
                    f"{label} holds op(s) {dup[:5]} twice",
                    _quote(who + [by_id[d] for d in dup if d in by_id]),
                )
            )
        phantom = sorted(set(ids) - sent)
        if phantom:
            result.violations.append(
                Violation(
                    "phantom", actor, f"{label} holds op(s) {phantom[:5]} never sent", _quote(who)
                )
            )
        bad = sorted(set(ids) & refused)
        if bad:
            result.violations.append(
                Violation(
                    "refused-but-applied",
                    actor,
                    f"{label} holds op(s) {bad[:5]} whose request was refused",
                    _quote(who + [by_id[b] for b in bad]),
                )
            )
    _lost_acked(actor, acked, set(final), sync, windows, result)
    _reappeared(actor, acked, set(final), result)
    if sync:
        _chain(actor, acked, final, result)
    _unknowns(history, set(final), result)


def _lost_acked(
    actor: str,
    acked: list[Op],
    final: set[int],
    sync: bool,
    windows: list[tuple[float, float]],
    result: CheckResult,
) -> None:
    lost = [o for o in acked if o.op not in final]
    if not lost:
        return
    if sync:
        result.violations.append(
            Violation(
                "lost-update",
                actor,
                f"{len(lost)} acknowledged op(s) missing from the final state: "
                f"{[o.op for o in lost][:10]}",
                _quote(lost),
            )
        )
        return
    outside = [o for o in lost if not _in_windows(o.end, windows)]
    result.allowed_losses += len(lost) - len(outside)
    if outside:
        result.violations.append(
            Violation(
                "lost-update",
                actor,
                f"{len(outside)} acknowledged snapshot op(s) lost outside any crash window: "
                f"{[o.op for o in outside][:10]}",
                _quote(outside),
            )
        )


def _reappeared(actor: str, acked: list[Op], final: set[int], result: CheckResult) -> None:
    """An op seen in reply A, missing from a later reply B, then present again (in a reply
    after B, or in the final state): two histories were both kept."""
    sets = [(o, set(o.value or ())) for o in acked]
    first_seen: dict[int, float] = {}
    for o, s in sorted(sets, key=lambda p: p[0].end):
        for x in s:
            first_seen.setdefault(x, o.end)
    reported = 0
    for x, seen_at in sorted(first_seen.items(), key=lambda p: p[1]):
        gaps = [o for o, s in sets if o.start > seen_at and x not in s]
        if not gaps:
            continue
        gap = min(gaps, key=lambda o: o.end)
        back = [o for o, s in sets if o.start > gap.end and x in s]
        if not back and x not in final:
            continue
        where = f"op {back[0].op}'s reply" if back else "the final state"
        a = next(o for o, s in sets if x in s and o.end == seen_at)
        result.violations.append(
            Violation(
                "lost-then-reappeared",
                actor,
                f"op {x} was in op {a.op}'s reply, missing from op {gap.op}'s (sent after), "
                f"and back in {where}",
                _quote([a, gap, *back[:1]]),
            )
        )
        reported += 1
        if reported >= 3:
            return


def _chain(actor: str, acked: list[Op], final: list[int], result: CheckResult) -> None:
    """Sync log: every acknowledged list is a prefix of the next longer one and of the final
    state; a reply that completed before another started is shorter."""
    ordered = sorted(acked, key=lambda o: len(o.value))
    for a, b in itertools.pairwise(ordered):
        if b.value[: len(a.value)] != a.value:
            result.violations.append(
                Violation(
                    "split-history",
                    actor,
                    f"acknowledged replies to ops {a.op} and {b.op} diverge: neither "
                    "extends the other",
                    _quote([a, b]),
                )
            )
            return
    if ordered and final[: len(ordered[-1].value)] != ordered[-1].value:
        result.violations.append(
            Violation(
                "split-history",
                actor,
                f"the final state does not extend op {ordered[-1].op}'s reply",
                _quote([ordered[-1]]),
            )
        )
    _backwards(actor, acked, lambda o: len(o.value), result)


def _backwards(actor: str, acked: list[Op], size: Any, result: CheckResult) -> None:
    """For A.end < B.start, B applied after A, so size(B) > size(A)."""
    by_end = sorted(acked, key=lambda o: o.end)
    best: Op | None = None
    i = 0
    for b in sorted(acked, key=lambda o: o.start):
        while i < len(by_end) and by_end[i].end < b.start:
            if best is None or size(by_end[i]) > size(best):
                best = by_end[i]
            i += 1
        if best is not None and size(b) <= size(best):
            result.violations.append(
                Violation(
                    "went-backwards",
                    actor,
                    f"op {b.op} (sent at {b.start:.3f}s) returned {size(b)}, not more than "
                    f"{size(best)} acknowledged to op {best.op} at {best.end:.3f}s",
                    _quote([best, b]),
                )
            )
            return


def _unknowns(history: list[Op], final: set[int], result: CheckResult) -> None:
    for o in history:
        if o.outcome == "ok":
            continue
        applied = o.op in final
        if o.outcome == "unknown":
            if applied:
                result.unknown_applied += 1
            else:
                result.unknown_not_applied += 1
        elif applied and not o.definite:
            result.warnings.append(
                Violation(
                    "error-but-applied",
                    o.actor,
                    f"op {o.op} failed with {o.error} but was applied (in doubt by design "
                    "only when the statestore connection broke mid-commit)",
                    _quote([o]),
                )
            )


# --- total actors: every op adds 1, replies carry the new total ---------------------------------


def _check_total(
    actor: str,
    history: list[Op],
    final: int,
    sync: bool,
    windows: list[tuple[float, float]],
    result: CheckResult,
) -> None:
    acked = [o for o in history if o.outcome == "ok"]
    maybe = [o for o in history if not (o.outcome == "fail" and o.definite)]
    if len(maybe) < final:
        result.violations.append(
            Violation(
                "duplicate",
                actor,
                f"final total {final} exceeds the {len(maybe)} ops that may have been "
                "applied (an op applied twice, or a refused one applied)",
                _quote(acked[-3:]),
            )
        )
    starts = sorted(o.start for o in maybe)
    for o in acked:
        could = sum(1 for s in starts if s < o.end)
        if o.value > could:
            result.violations.append(
                Violation(
                    "duplicate",
                    actor,
                    f"op {o.op} returned total {o.value} but only {could} ops had been sent",
                    _quote([o]),
                )
            )
            break
    if sync:
        if final < len(acked):
            result.violations.append(
                Violation(
                    "lost-update",
                    actor,
                    f"final total {final} < {len(acked)} acknowledged increments",
                    _quote(acked[-5:]),
                )
            )
        top = max(acked, key=lambda o: o.value, default=None)
        if top is not None and final < top.value:
            result.violations.append(
                Violation(
                    "lost-update",
                    actor,
                    f"final total {final} < total {top.value} acknowledged to op {top.op}",
                    _quote([top]),
                )
            )
        _backwards(actor, acked, lambda o: o.value, result)
        _stale(actor, acked, result)
        return
    allowed = sum(1 for o in acked if _in_windows(o.end, windows))
    if final < len(acked) - allowed:
        result.violations.append(
            Violation(
                "lost-update",
                actor,
                f"final total {final} < {len(acked)} acknowledged minus {allowed} "
                "acknowledged inside crash windows",
                _quote(acked[-5:]),
            )
        )
    result.allowed_losses += max(0, min(allowed, len(acked) - final))
    if not windows:  # no crash: a snapshot actor must behave like a sync one
        _backwards(actor, acked, lambda o: o.value, result)


def _stale(actor: str, acked: list[Op], result: CheckResult) -> None:
    """A sync reply includes every op acknowledged before it was sent, plus itself."""
    ends = sorted(o.end for o in acked)
    i = 0
    for b in sorted(acked, key=lambda o: o.start):
        while i < len(ends) and ends[i] < b.start:
            i += 1
        if b.value < i + 1:
            result.violations.append(
                Violation(
                    "lost-update",
                    actor,
                    f"op {b.op} returned total {b.value}, but {i} increments had been "
                    "acknowledged before it was sent",
                    _quote([b]),
                )
            )
            return


def _check_convergence(c: Convergence, result: CheckResult) -> None:
    if not c.members_ok:
        result.violations.append(
            Violation("no-convergence", "", f"members did not converge: {c.members_detail}")
        )
    for actor, seen in sorted(c.owners.items()):
        if len(set(seen.values())) != 1 or any(v.startswith("error") for v in seen.values()):
            result.violations.append(
                Violation("owner-disagreement", actor, f"nodes name different owners: {seen}")
            )
