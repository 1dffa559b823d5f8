"""`from_args`: how `--system` (repeatable, comma lists) and `ROOST_SYSTEM` become the systems a
node hosts, and which wins."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

import pytest

from examples.counters import Incrementor
from roost import Actor, Context, Value, action
from roost.node.config import NodeConfig, add_arguments, from_args
from roost.node.loader import build_systems, build_types


def parse(argv: Sequence[str], env: Mapping[str, str] | None = None) -> NodeConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_args(parser.parse_args(list(argv)), env or {})


@pytest.mark.parametrize(
    ("argv", "env", "systems"),
    [
        ([], {}, ("spawn-system",)),
        (["--system", "a"], {}, ("a",)),
        (["--system", "a", "--system", "b"], {}, ("a", "b")),
        (["--system", "a,b", "--system", "c"], {}, ("a", "b", "c")),
        ([], {"ROOST_SYSTEM": "a,b"}, ("a", "b")),
        ([], {"ROOST_SYSTEM": " a , b ,"}, ("a", "b")),
        (["--system", "c"], {"ROOST_SYSTEM": "a,b"}, ("c",)),  # the flag wins
        ([], {"ROOST_SYSTEM": ""}, ("spawn-system",)),  # empty: the default
    ],
)
def test_systems_from_flags_and_environment(
    argv: list[str], env: dict[str, str], systems: tuple[str, ...]
) -> None:
    cfg = parse(argv, env)
    assert cfg.systems == systems
    assert cfg.system == systems[0]  # the first is the node's main system


class Ledger(Actor):
    name = "ledger"
    system = "billing"

    @action
    async def get(self, ctx: Context) -> Value:
        return Value()


def test_each_listed_system_gets_the_actors_that_name_none() -> None:
    cfg = parse([], {"ROOST_SYSTEM": "a,b"})
    systems = build_systems(cfg.systems, build_types([Incrementor, Ledger]))
    assert list(systems) == ["a", "b", "billing"]
    assert set(systems["a"].named) == set(systems["b"].named) == {"incrementor"}
    assert set(systems["billing"].named) == {"ledger"}


@pytest.mark.parametrize(
    ("argv", "env", "listen", "tag"),
    [
        (["--http", "10.0.0.5:8800"], {}, ("10.0.0.5", 0), "10.0.0.5:4321"),
        (["--http", "0.0.0.0:8800", "--advertise", "node-1.roost:80", "--link", "0.0.0.0:7947"],
         {}, ("0.0.0.0", 7947), "node-1.roost:4321"),
        (["--http", "[::1]:8800"], {}, ("::1", 0), "[::1]:4321"),
        (["--http", "10.0.0.5:8800"], {"ROOST_LINK_ADVERTISE_ADDR": "lb.example:9000"},
         ("10.0.0.5", 0), "lb.example:9000"),
        (["--link", "off"], {}, None, None),
    ],
)  # fmt: skip
def test_the_peer_link_address_and_what_peers_are_told(
    argv: list[str],
    env: dict[str, str],
    listen: tuple[str, int] | None,
    tag: str | None,
) -> None:
    cfg = parse(argv, env)
    assert cfg.link_host_port == listen
    if tag is not None:
        assert cfg.link_tag(4321) == tag  # 4321: the port the listener got
