"""`chaos` re-exports exactly what `__all__` says, and the CLI entry points exist."""

from __future__ import annotations

import chaos
from chaos.cli import main, parser


def test_all_names_are_exported() -> None:
    assert sorted(chaos.__all__) == sorted(n for n in chaos.__all__ if hasattr(chaos, n))
    public = {n for n in vars(chaos) if not n.startswith("_")} - {
        "checker", "history", "scenario", "verdict", "check_total", "cli", "report", "runner",
        "cleanup", "netns", "cluster", "faults", "pipes", "workload",
    }  # fmt: skip
    assert public == set(chaos.__all__)


def test_cli_refuses_bad_arguments_before_touching_anything() -> None:
    assert "partition-minority" in parser().format_help()
    assert main(["--loopback", "partition-halves", "--out", "/nonexistent"]) == 2
    assert main(["--loopback", "no-such-scenario", "--out", "/nonexistent"]) == 2
