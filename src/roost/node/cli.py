"""The `roost` command line (also `python -m roost`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from roost.errors import ConfigError, RoostError
from roost.node import logs
from roost.node.api import DEFAULT_URL
from roost.node.client import Client
from roost.node.clientring import ClientRing
from roost.node.config import NodeConfig, add_arguments, from_args
from roost.node.core import load_or_create_key
from roost.statestore.crypto import Keyring, generate_key

DEMO_ACTORS = (
    "examples.counters:Incrementor",
    "examples.counters:Counter",
    "examples.counters:Tally",
)


def _url(ns: argparse.Namespace) -> str:
    return str(ns.url or os.environ.get("ROOST_URL") or DEFAULT_URL)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)


def _serve(cfg: NodeConfig) -> int:
    from roost.node.node import Node

    logs.setup(cfg.log_level, cfg.log_format, cfg.node_id)

    async def main() -> int:
        return await Node(cfg).run()

    return int(_run(main()))


def cmd_node(ns: argparse.Namespace) -> int:
    return _serve(from_args(ns))


def cmd_demo(ns: argparse.Namespace) -> int:
    data = Path(ns.data)
    key = load_or_create_key(data / "key")
    cfg = NodeConfig(
        systems=("spawn-system",),
        node_id="demo",
        actors=DEMO_ACTORS,
        http=ns.http,
        statestore=f"sqlite:///{data / 'roost.db'}",
        statestore_key=key,
        demo=True,
        lease=10.0,
    )
    cfg.validate()
    print(
        f"Roost demo: system spawn-system on http://{ns.http} (state in {data}/)\n"
        f"  try: curl -s -X POST http://{ns.http}/v1/systems/spawn-system/actors/incrementor"
        "/actions/add -H 'Content-Type: application/json' -d '{\"value\": 1}'",
        file=sys.stderr,
        flush=True,
    )
    return _serve(cfg)


def _print(data: Any) -> None:
    print(json.dumps(data, indent=None if not sys.stdout.isatty() else 2))


def cmd_invoke(ns: argparse.Namespace) -> int:
    try:
        payload = json.loads(ns.payload) if ns.payload is not None else None
        metadata = json.loads(ns.metadata) if ns.metadata is not None else None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--payload / --metadata is not valid JSON: {exc}") from None

    async def go() -> Any:
        async with Client(_url(ns)) as c:
            return await c.invoke(
                ns.actor, ns.action, payload, system=ns.system, parent=ns.parent,
                metadata=metadata, async_=ns.async_,
            )  # fmt: skip

    _print(asyncio.run(go()))
    return 0


def cmd_members(ns: argparse.Namespace) -> int:
    async def go() -> Any:
        async with Client(_url(ns)) as c:
            return await c.members()

    data = asyncio.run(go())
    if ns.json:
        _print(data)
        return 0
    print(f"view version {data['version']}")
    for m in data["members"]:
        print(f"{m['id']:<24} {m['status']:<9} http={m['http']:<22} gossip={m['gossip']}")
    return 0


def cmd_ring(ns: argparse.Namespace) -> int:
    """The ring as owner-aware clients see it, with each member's exact share of the keys."""

    async def go() -> Any:
        async with Client(_url(ns), owner_aware=False) as c:
            return await c.ring_document()

    data = asyncio.run(go())
    if ns.json:
        _print(data)
        return 0
    shares = ClientRing(data, "http").ring.shares()
    print(f"ring version {data['version']}, {data['vnodes']} vnodes, hash {data['hash']}")
    for m in data["members"]:
        systems = ",".join(m["systems"]) if m["systems"] is not None else "*"
        print(f"{m['id']:<24} {shares.get(m['id'], 0.0):6.1%}  http={m['http']:<22} {systems}")
    return 0


def cmd_owner(ns: argparse.Namespace) -> int:
    async def go() -> Any:
        async with Client(_url(ns)) as c:
            return await c.owner(ns.actor, system=ns.system)

    _print(asyncio.run(go()))
    return 0


def cmd_keygen(ns: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def _store_url(ns: argparse.Namespace) -> str:
    url = ns.statestore or os.environ.get("ROOST_STATESTORE_URL")
    if not url:
        raise ConfigError("pass --statestore URL or set ROOST_STATESTORE_URL")
    return str(url)


def cmd_migrate(ns: argparse.Namespace) -> int:
    from roost.statestore.admin import migrate

    asyncio.run(migrate(_store_url(ns)))
    print("schema is up to date", file=sys.stderr)
    return 0


def cmd_rotate(ns: argparse.Namespace) -> int:
    from roost.statestore.admin import rotate

    key = os.environ.get("ROOST_STATESTORE_KEY")
    if not key:
        raise ConfigError(
            "set ROOST_STATESTORE_KEY to the new primary key "
            "(and the keys to re-seal from in ROOST_STATESTORE_OLD_KEYS)"
        )
    if ns.batch < 1:  # 0 would scan nothing and report a finished rotation
        raise ConfigError(f"--batch must be at least 1, got {ns.batch}")
    old = os.environ.get("ROOST_STATESTORE_OLD_KEYS", "").split(",")
    report = asyncio.run(rotate(_store_url(ns), Keyring.from_text(key, old), batch=ns.batch))
    print(
        f"rotation done: {report.scanned} rows scanned, {report.rewritten} re-sealed, "
        f"{report.already_current} already under the primary key",
        file=sys.stderr,
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="roost", description="Roost: a Python actor mesh")
    sub = p.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="one node with the example actors on SQLite (no config)")
    demo.add_argument("--http", default="127.0.0.1:8800", help="listen address")
    demo.add_argument("--data", default="roost-data", help="directory for the database and key")
    demo.set_defaults(fn=cmd_demo)

    node = sub.add_parser("node", help="run a node (flags also read ROOST_* variables)")
    add_arguments(node)
    node.set_defaults(fn=cmd_node)

    inv = sub.add_parser("invoke", help="invoke an action and print its JSON reply")
    inv.add_argument("actor")
    inv.add_argument("action")
    inv.add_argument("--system", default="spawn-system")
    inv.add_argument("--payload", help="JSON payload")
    inv.add_argument("--parent", help="template of an unnamed actor")
    inv.add_argument("--metadata", help="JSON object of string metadata")
    inv.add_argument(
        "--url", help=f"node URL, or a comma list of them (env ROOST_URL, default {DEFAULT_URL})"
    )
    inv.add_argument("--async", dest="async_", action="store_true", help="do not wait")
    inv.set_defaults(fn=cmd_invoke)

    mem = sub.add_parser("members", help="list the cluster members a node sees")
    mem.add_argument("--url")
    mem.add_argument("--json", action="store_true")
    mem.set_defaults(fn=cmd_members)

    ring = sub.add_parser("ring", help="the hash ring clients route with: members, shares")
    ring.add_argument("--url")
    ring.add_argument("--json", action="store_true")
    ring.set_defaults(fn=cmd_ring)

    own = sub.add_parser("owner", help="which node owns an actor")
    own.add_argument("actor")
    own.add_argument("--system", default="spawn-system")
    own.add_argument("--url")
    own.set_defaults(fn=cmd_owner)

    kg = sub.add_parser("keygen", help="print a new statestore key (base64 of 32 bytes)")
    kg.set_defaults(fn=cmd_keygen)

    st = sub.add_parser("statestore", help="statestore administration")
    st_sub = st.add_subparsers(dest="statestore_command", required=True)
    mig = st_sub.add_parser("migrate", help="create or upgrade the schema")
    mig.add_argument("--statestore", help="URL (env ROOST_STATESTORE_URL)")
    mig.set_defaults(fn=cmd_migrate)
    rot = st_sub.add_parser("rotate", help="re-encrypt every row under ROOST_STATESTORE_KEY")
    rot.add_argument("--statestore", help="URL (env ROOST_STATESTORE_URL)")
    rot.add_argument("--batch", type=int, default=500)
    rot.set_defaults(fn=cmd_rotate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    try:
        return int(ns.fn(ns))
    except ConfigError as exc:
        print(f"roost: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except RoostError as exc:
        print(f"roost: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
