"""Prometheus metric definitions and their per-node state."""

from roost.metrics.registry import LATENCY_BUCKETS, Histogram, Metrics
from roost.metrics.store import MeteredStore

__all__ = ["LATENCY_BUCKETS", "Histogram", "MeteredStore", "Metrics"]
