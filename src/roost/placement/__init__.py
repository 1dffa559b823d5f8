"""Where actors live: the consistent-hash ring, routing and forwarding, rebalance handoff."""

from roost.placement.placement import Placement
from roost.placement.ring import Move, Ring, load, moves, ring_key, to_hand_off
from roost.placement.router import HOP_LIMIT, Forwarder, Router, Unreachable

__all__ = [
    "HOP_LIMIT",
    "Forwarder",
    "Move",
    "Placement",
    "Ring",
    "Router",
    "Unreachable",
    "load",
    "moves",
    "ring_key",
    "to_hand_off",
]
