"""What a chaos run records: operations, their outcomes, the faults, and the actor templates.

Pure data. Times are seconds since the run's start (a monotonic clock), so a history is
comparable across machines and can be written to and read back from JSON unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["ok", "fail", "unknown"]
Model = Literal["total", "log"]
Durability = Literal["sync", "snapshot"]


@dataclass(frozen=True, slots=True)
class Template:
    """An actor template the workload drives and how its replies are read.

    `total`: the reply is ``{"total": N}`` and every op adds 1. `log`: the reply is
    ``{"ops": [ids...]}``, the ids of every op applied so far, in order.
    """

    name: str
    model: Model
    durability: Durability
    action: str
    read_action: str
    snapshot_timeout: float = 10.0


TEMPLATES: tuple[Template, ...] = (
    Template("counter", "total", "sync", "add", "get"),
    Template("tally", "total", "snapshot", "add", "get"),
    Template("chaoslog", "log", "sync", "apply", "read"),
    Template("chaoslog-snap", "log", "snapshot", "apply", "read"),
)
ACTOR_CLASSES = (
    "examples.counters:Counter",
    "examples.counters:Tally",
    "examples.chaoslog:ChaosLog",
    "examples.chaoslog:ChaosLogSnap",
)


def template(name: str) -> Template:
    for t in TEMPLATES:
        if t.name == name:
            return t
    raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Op:
    """One request: sent at `start`, answered (or given up on) at `end`.

    `value` is the reply's total (model `total`) or op list (model `log`) when `outcome` is ok.
    `error` names the failure kind: ``"503 unavailable"``, ``"refused"``, ``"client-timeout"``...
    `definite` is true when the failure proves the op was not applied (never delivered, or a
    4xx refusal); otherwise a failed op may or may not have been applied.
    """

    op: int
    actor: str
    template: str
    node: str
    start: float
    end: float
    outcome: Outcome
    value: Any = None
    error: str | None = None
    definite: bool = False
    kind: Literal["write", "read"] = "write"  # a read applies nothing; its op id is only a tag
    message: str | None = None  # the error's message, for the reader of a report

    @property
    def is_read(self) -> bool:
        return self.kind == "read"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if self.outcome != "ok":
            d.pop("value")
        return d


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """A fault as it actually happened (the schedule says when it should have)."""

    kind: str
    targets: tuple[str, ...]
    start: float
    end: float
    detail: str = ""
    crash_like: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DrainRecord:
    """One graceful stop as it happened: SIGTERM to exit, and whether the node needed its whole
    `--drain-timeout` (it then exits after a last-chance flush: a failed drain, not a slow one)."""

    node: str
    at: float  # when the SIGTERM was sent (seconds since the run's start)
    seconds: float
    exit: int | None  # None: it did not exit and was killed
    timed_out: bool
    detail: str = ""  # the node's own line on a timed-out or failed drain

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def classify_http(status: int, code: str) -> tuple[Outcome, str, bool]:
    """Map an HTTP answer to (outcome, error kind, definite).

    A 4xx is a refusal before anything ran. 504 means no reply before the deadline: the turn may
    still complete. A 503 usually means nothing was applied, but a statestore write whose commit
    was sent before the connection dropped is in doubt (docs/statestores.md), so it is not
    definite; the checker reports such ops separately when they turn out applied.
    """
    if status == 200:
        return "ok", "", False
    kind = f"{status} {code}".strip()
    if 400 <= status < 500:
        return "fail", kind, True
    if status == 504:
        return "unknown", kind, False
    return "fail", kind, False


@dataclass(slots=True)
class Convergence:
    """After healing: did every node see every member active, and agree on every owner?"""

    members_ok: bool = False
    members_detail: str = ""
    owners: dict[str, dict[str, str]] = field(default_factory=dict)
    seconds: float = 0.0
