"""The composition root: `Node`, its configuration, lifecycle, HTTP API and CLI."""

from roost.node.config import OPTIONS, NodeConfig
from roost.node.core import Core
from roost.node.system import ActorSystem

__all__ = ["OPTIONS", "ActorSystem", "Core", "NodeConfig"]
