"""Drain recording (issue 23): every graceful stop's time is in the report, and a stop that
reached the node's `--drain-timeout` fails the scenario (the graceful path did not work, even
if the last-chance flush saved the data). Pure parts and the executor on a fake cluster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chaos import report
from chaos.checker import CheckResult
from chaos.faults import Executor
from chaos.history import Convergence, DrainRecord
from chaos.scenario import HEAVY, build

TIMED_OUT = (
    "2026-12-02 06:59:16,636 ERROR [rcx1-n2] roost.node: drain did not finish in time: "
    "final flush attempt (5 calls in flight, 1799 arrived while draining)"
)


@dataclass
class Proc:
    node_id: str


@dataclass
class FakeCluster:
    """What `Executor._term` uses: SIGTERM results and the node's log, per node."""

    results: list[tuple[int | None, float]]
    logs: list[str]
    nodes: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nodes = [Proc(f"rcx1-n{i + 1}") for i in range(len(self.results))]

    async def term(self, i: int) -> tuple[int | None, float]:
        return self.results[i]

    def log_of_last_run(self, i: int) -> str:
        return self.logs[i]


def executor(cluster: FakeCluster) -> Executor:
    clock = iter(float(t) for t in range(100))
    ex = Executor(
        cluster,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        topology=None,
        proxies={},
        now=lambda: next(clock),
    )
    return ex


async def test_a_drain_that_reaches_its_timeout_fails_the_scenario() -> None:
    cluster = FakeCluster([(0, 2.3), (0, 25.8), (None, 40.0)], ["drained\n", TIMED_OUT, ""])
    ex = executor(cluster)
    details = [await ex._term(i) for i in range(3)]
    assert details[0] == "SIGTERM exit 0 in 2.3s"
    assert [(d.node, d.seconds, d.exit, d.timed_out) for d in ex.drains] == [
        ("rcx1-n1", 2.3, 0, False),
        ("rcx1-n2", 25.8, 0, True),
        ("rcx1-n3", 40.0, None, True),
    ]
    assert ex.drains[1].detail == TIMED_OUT
    assert len(ex.problems) == 2  # one each: timed out, and killed without exiting
    assert "rcx1-n2: graceful stop reached its drain timeout (25.8s)" in ex.problems[0]
    assert "1799 arrived while draining" in ex.problems[0]
    assert "rcx1-n3 did not exit 0" in ex.problems[1]
    assert ex.warnings == []


def test_the_report_shows_each_drain_and_their_median_and_longest() -> None:
    drains = [
        DrainRecord("rcx1-n1", 8.0, 2.5, 0, False),
        DrainRecord("rcx1-n2", 14.0, 1.5, 0, False),
        DrainRecord("rcx1-n3", 20.0, 3.25, 0, False),
        DrainRecord("rcx1-n4", 26.0, 2.0, 0, False),
    ]
    data: dict[str, Any] = report.build(
        build("rolling-restart-heavy", 1, 4),
        mode="netns",
        ops=[],
        faults=[],
        finals={},
        convergence=Convergence(members_ok=True),
        result=CheckResult(),
        drains=drains,
        clients_per_node=6,
    )
    d = data["drains"]
    assert (d["count"], d["p50_s"], d["max_s"], d["timed_out"]) == (4, 2.25, 3.25, 0)
    assert [x["node"] for x in d["per_node"]] == ["rcx1-n1", "rcx1-n2", "rcx1-n3", "rcx1-n4"]
    assert data["clients_per_node"] == 6
    text = report.summary(data)
    assert "drains 4: p50 2.2s, max 3.2s, 0 reached the drain timeout (n1 2.5, n2 1.5" in text
    assert "| 2.2 / 3.2 s | 0 |" in report.table_row(data)
    assert data["violations"] == []


def test_a_scenario_without_drains_shows_none() -> None:
    data = report.build(
        build("kill-one", 1, 3),
        mode="netns",
        ops=[],
        faults=[],
        finals={},
        convergence=Convergence(members_ok=True),
        result=CheckResult(),
    )
    assert data["drains"]["count"] == 0 and data["drains"]["max_s"] is None
    assert "drains" not in report.summary(data)
    assert "| - | 0 |" in report.table_row(data)


def test_the_heavy_rolling_restart_is_the_rolling_restart_at_six_clients_per_node() -> None:
    heavy, plain = build("rolling-restart-heavy", 7, 5), build("rolling-restart", 7, 5)
    assert HEAVY == {"rolling-restart-heavy": 6}
    assert heavy.min_clients == 6 and plain.min_clients == 0
    assert [f.kind for f in heavy.faults] == ["rolling"]
    assert sorted(heavy.faults[0].targets) == list(range(5))
