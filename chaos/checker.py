"""The history checker: pure functions from a recorded run to violations.

Rules (DESIGN.md "Cluster"):

- `sync` actors: every acknowledged op is in the final state; no acknowledged reply went
  backwards (a reply that completed before another started must be contained in it, and a
  write's reply must be bigger); a read sees every op acknowledged before it was sent; every
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
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.check_total import check_total
from chaos.history import Convergence, FaultRecord, Op, template
from chaos.verdict import (
    LOSS_GRACE,
    CheckResult,
    Violation,
    backwards,
    in_windows,
    loss_windows,
    quote,
)

__all__ = ["CheckResult", "Violation", "check", "loss_windows"]


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
                    "server-error", o.actor, f"op {o.op}: {o.error} from valid input", quote([o])
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
            check_total(actor, history, int(final), t.durability == "sync", windows, result)
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
    acked = [o for o in history if o.outcome == "ok"]  # writes and reads
    writes = [o for o in history if not o.is_read]
    sent = {o.op for o in writes}
    refused = {o.op for o in writes if o.outcome == "fail" and o.definite}
    by_id = {o.op: o for o in writes}
    for o in acked:
        if not o.is_read and (not o.value or o.value[-1] != o.op):
            result.violations.append(
                Violation(
                    "wrong-reply", actor, f"op {o.op}'s reply does not end with it", quote([o])
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
                    quote(who + [by_id[d] for d in dup if d in by_id]),
                )
            )
        phantom = sorted(set(ids) - sent)
        if phantom:
            result.violations.append(
                Violation(
                    "phantom", actor, f"{label} holds op(s) {phantom[:5]} never sent", quote(who)
                )
            )
        bad = sorted(set(ids) & refused)
        if bad:
            result.violations.append(
                Violation(
                    "refused-but-applied",
                    actor,
                    f"{label} holds op(s) {bad[:5]} whose request was refused",
                    quote(who + [by_id[b] for b in bad]),
                )
            )
    _lost_acked(actor, [o for o in acked if not o.is_read], set(final), sync, windows, result)
    _reappeared(actor, acked, set(final), result)
    if sync:
        _chain(actor, acked, final, result)
    _unknowns(writes, set(final), result)


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
                quote(lost),
            )
        )
        return
    outside = [o for o in lost if not in_windows(o.end, windows)]
    result.allowed_losses += len(lost) - len(outside)
    if outside:
        result.violations.append(
            Violation(
                "lost-update",
                actor,
                f"{len(outside)} acknowledged snapshot op(s) lost outside any crash window: "
                f"{[o.op for o in outside][:10]}",
                quote(outside),
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
                f"op {x} was in op {a.op}'s reply, missing from {gap.kind} op {gap.op}'s "
                f"(sent after), and back in {where}",
                quote([a, gap, *back[:1]]),
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
                    quote([a, b]),
                )
            )
            return
    if ordered and final[: len(ordered[-1].value)] != ordered[-1].value:
        result.violations.append(
            Violation(
                "split-history",
                actor,
                f"the final state does not extend op {ordered[-1].op}'s reply",
                quote([ordered[-1]]),
            )
        )
    backwards(actor, acked, lambda o: len(o.value), result)


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
                    quote([o]),
                )
            )


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
