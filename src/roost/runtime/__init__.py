"""Activations: mailbox and turns, init, idle deactivation, snapshots, rollback."""

from roost.runtime.activation import Activation
from roost.runtime.driver import drive
from roost.runtime.host import Runtime
from roost.runtime.schedule import DeadlineQueue, IdleTracker, SnapshotSchedule
from roost.runtime.types import SystemTypes
from roost.runtime.writer import Coalescer, ReleaseCoalescer, WriteCoalescer

__all__ = [
    "Activation",
    "Coalescer",
    "DeadlineQueue",
    "IdleTracker",
    "ReleaseCoalescer",
    "Runtime",
    "SnapshotSchedule",
    "SystemTypes",
    "WriteCoalescer",
    "drive",
]
