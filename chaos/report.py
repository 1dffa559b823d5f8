"""The JSON report and the human summary of one scenario run. Pure: data in, data out."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.checker import CheckResult
from chaos.history import Convergence, DrainRecord, FaultRecord, Op
from chaos.scenario import Scenario


def availability(ops: Sequence[Op]) -> list[dict[str, Any]]:
    """Per second of the run, by when requests ended: how many ended and how many succeeded.
    A second in which requests were in flight but none ended is a stall: availability 0."""
    if not ops:
        return []
    last = max(math.floor(o.end) for o in ops)
    ended = [0] * (last + 1)
    ok = [0] * (last + 1)
    busy = [False] * (last + 1)
    for o in ops:
        e = max(0, math.floor(o.end))
        ended[e] += 1
        ok[e] += o.outcome == "ok"
        for s in range(max(0, math.floor(o.start)), e + 1):
            busy[s] = True
    out = []
    for t in range(last + 1):
        if ended[t]:
            a: float | None = round(ok[t] / ended[t], 4)
        else:
            a = 0.0 if busy[t] else None
        out.append({"t": t, "ended": ended[t], "ok": ok[t], "availability": a})
    return out


def build(
    scenario: Scenario,
    *,
    mode: str,
    ops: Sequence[Op],
    faults: Sequence[FaultRecord],
    finals: Mapping[str, Any],
    convergence: Convergence,
    result: CheckResult,
    problems: Sequence[str] = (),
    healed: Sequence[str] = (),
    notes: Sequence[str] = (),
    seconds: float = 0.0,
    drains: Sequence[DrainRecord] = (),
    clients_per_node: int | None = None,
) -> dict[str, Any]:
    outcomes = Counter(o.outcome for o in ops)
    total = len(ops)
    per_second = availability(ops)
    busy = [s["availability"] for s in per_second if s["availability"] is not None]
    templates: dict[str, Counter[str]] = {}
    for o in ops:
        templates.setdefault(o.template, Counter())[o.outcome] += 1
    violations = [v.to_json() for v in result.violations]
    violations += [{"kind": "harness", "actor": "", "message": p, "history": []} for p in problems]
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "nodes": scenario.nodes,
        "mode": mode,
        "clients_per_node": clients_per_node,
        "seconds": round(seconds, 1),
        "planned_faults": [f.describe() for f in scenario.faults],
        "faults": [f.to_json() for f in sorted(faults, key=lambda f: f.start)],
        "requests": {
            "total": total,
            "ok": outcomes["ok"],
            "failed": outcomes["fail"],
            "unknown": outcomes["unknown"],
            "by_template": {k: dict(v) for k, v in sorted(templates.items())},
        },
        "errors_by_kind": dict(Counter(o.error for o in ops if o.error).most_common()),
        "error_messages": _messages(ops),
        "availability": {
            "overall": round(outcomes["ok"] / total, 4) if total else None,
            "worst_second": min(busy) if busy else None,
            "stalled_seconds": sum(1 for s in per_second if s["availability"] == 0.0),
            "per_second": per_second,
        },
        "unknown_outcomes": {
            "applied": result.unknown_applied,
            "not_applied": result.unknown_not_applied,
        },
        "snapshot_losses_allowed": result.allowed_losses,
        "convergence": {
            "members_ok": convergence.members_ok,
            "detail": convergence.members_detail,
            "seconds": round(convergence.seconds, 1),
            "actors_checked": len(convergence.owners),
        },
        "final_sizes": {
            k: (v if isinstance(v, int) or v is None else len(v)) for k, v in sorted(finals.items())
        },
        "drains": drain_stats(drains),
        "healed_at_end": list(healed),
        "violations": violations,
        "warnings": [w.to_json() for w in result.warnings]
        + [{"kind": "node", "actor": "", "message": n, "history": []} for n in notes],
    }


def drain_stats(drains: Sequence[DrainRecord]) -> dict[str, Any]:
    """Every graceful stop (SIGTERM to exit) and their median and longest."""
    secs = sorted(d.seconds for d in drains)
    return {
        "count": len(secs),
        "p50_s": _median(secs),
        "max_s": secs[-1] if secs else None,
        "timed_out": sum(d.timed_out for d in drains),
        "per_node": [d.to_json() for d in drains],
    }


def _median(xs: Sequence[float]) -> float | None:
    if not xs:
        return None
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else round((xs[mid - 1] + xs[mid]) / 2, 2)


def _messages(ops: Sequence[Op], per_kind: int = 3) -> dict[str, list[str]]:
    """A few distinct messages of each error kind the nodes sent back."""
    out: dict[str, list[str]] = {}
    for o in ops:
        if o.error and o.message:
            seen = out.setdefault(o.error, [])
            if o.message not in seen and len(seen) < per_kind:
                seen.append(o.message)
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def summary(report: Mapping[str, Any]) -> str:
    r = report["requests"]
    a = report["availability"]
    lines = [
        f"{report['scenario']}: seed {report['seed']}, {report['nodes']} nodes ({report['mode']}), "
        f"{report['seconds']}s",
        f"  requests {r['total']}: ok {r['ok']}, failed {r['failed']}, unknown {r['unknown']}; "
        f"availability {_pct(a['overall'])} (worst second {_pct(a['worst_second'])})",
    ]
    d = report.get("drains") or {}
    if d.get("count"):
        each = ", ".join(
            f"{x['node'].rsplit('-', 1)[-1]} {x['seconds']:.1f}" for x in d["per_node"]
        )
        lines.append(
            f"  drains {d['count']}: p50 {d['p50_s']:.1f}s, max {d['max_s']:.1f}s, "
            f"{d['timed_out']} reached the drain timeout ({each})"
        )
    for f in report["faults"]:
        lines.append(
            f"  fault t+{f['start']:.1f}s..t+{f['end']:.1f}s {f['kind']} "
            f"{','.join(f['targets'])}: {f['detail']}"
        )
    if report["errors_by_kind"]:
        errs = ", ".join(f"{k} x{n}" for k, n in report["errors_by_kind"].items())
        lines.append(f"  errors: {errs}")
    u = report["unknown_outcomes"]
    lines.append(
        f"  unknown outcomes later seen applied {u['applied']}, not applied {u['not_applied']}; "
        f"snapshot losses inside crash windows {report['snapshot_losses_allowed']}; "
        f"converged in {report['convergence']['seconds']}s"
    )
    for w in report["warnings"][:8]:
        lines.append(f"  warning {w['kind']} {w['actor']}: {w['message']}")
    if len(report["warnings"]) > 8:
        lines.append(f"  ... {len(report['warnings']) - 8} more warnings in report.json")
    for v in report["violations"]:
        lines.append(f"  VIOLATION {v['kind']} {v['actor']}: {v['message']}")
    verdict = "FAIL" if report["violations"] else "PASS"
    lines.append(f"  {verdict} ({len(report['violations'])} violations)")
    return "\n".join(lines)


TABLE_HEAD = (
    "| scenario | nodes | seed | requests | errors (failed + unknown) | availability "
    "(worst second) | drains p50 / max | violations |\n|---|---|---|---|---|---|---|---|"
)


def table_row(report: Mapping[str, Any]) -> str:
    r = report["requests"]
    a = report["availability"]
    d = report.get("drains") or {}
    drains = f"{d['p50_s']:.1f} / {d['max_s']:.1f} s" if d.get("count") else "-"
    return (
        f"| {report['scenario']} | {report['nodes']} | {report['seed']} | {r['total']} | "
        f"{r['failed'] + r['unknown']} ({r['failed']} + {r['unknown']}) | "
        f"{_pct(a['overall'])} ({_pct(a['worst_second'])}) | {drains} | "
        f"{len(report['violations'])} |"
    )
