"""Scenario schedules are pure and seeded: same seed, same schedule; every fault is valid."""

from __future__ import annotations

import itertools

import pytest

from chaos.scenario import KINDS, SCENARIOS, SMOKE, build


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("nodes", [3, 5])
def test_same_seed_same_schedule(name: str, nodes: int) -> None:
    assert build(name, 42, nodes) == build(name, 42, nodes)


def test_different_seeds_give_different_mixed_schedules() -> None:
    schedules = {build("mixed", seed, 5).faults for seed in range(20)}
    assert len(schedules) > 15


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("nodes", [3, 5])
def test_every_fault_is_well_formed(seed: int, nodes: int) -> None:
    for name in SCENARIOS:
        s = build(name, seed, nodes)
        assert s.faults, name
        for f in s.faults:
            assert f.kind in KINDS
            assert all(0 <= i < nodes for i in f.targets + f.others)
            assert not set(f.targets) & set(f.others)
            assert f.at >= s.warmup and f.duration >= 0
            if f.kind in ("partition", "oneway"):
                assert f.targets and f.others
        assert s.planned_seconds < s.max_seconds


def test_mixed_faults_do_not_overlap() -> None:
    for seed in range(30):
        faults = build("mixed", seed, 5).faults
        for a, b in itertools.pairwise(faults):
            assert a.at + a.duration < b.at


def test_minority_is_a_minority_and_halves_are_halves() -> None:
    for seed in range(10):
        (f,) = build("partition-minority", seed, 5).faults
        assert len(f.targets) == 2 and len(f.others) == 3
        (f,) = build("partition-minority", seed, 3).faults
        assert len(f.targets) == 1 and len(f.others) == 2
        (f,) = build("partition-halves", seed, 4).faults
        assert len(f.targets) == len(f.others) == 2


def test_loopback_mode_refuses_network_scenarios_and_keeps_mixed_to_process_faults() -> None:
    with pytest.raises(ValueError, match="namespaces"):
        build("partition-halves", 1, 3, network=False)
    for seed in range(20):
        assert not build("mixed", seed, 3, network=False).needs_netns
    assert not build("kill-one", 1, 3, network=False).needs_netns


def test_smoke_scenarios_exist_and_fit_the_ci_budget() -> None:
    for name in SMOKE:
        assert build(name, 7, 3).planned_seconds < 60


def test_unknown_scenario_and_too_few_nodes() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        build("nope", 1, 3)
    with pytest.raises(ValueError, match="at least 2"):
        build("kill-one", 1, 1)
