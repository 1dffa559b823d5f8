"""Roost's chaos/netsplit harness: real clusters in network namespaces, injected faults, and a
history checker. Run it with ``python -m chaos`` (or ``roost-chaos``); see chaos/README.md."""

from chaos.checker import CheckResult, Violation, check
from chaos.history import Convergence, FaultRecord, Op, Template
from chaos.scenario import SCENARIOS, SMOKE, Fault, Scenario, build

__all__ = [
    "SCENARIOS",
    "SMOKE",
    "CheckResult",
    "Convergence",
    "Fault",
    "FaultRecord",
    "Op",
    "Scenario",
    "Template",
    "Violation",
    "build",
    "check",
]
