"""Typed references: in-process, over HTTP to a real node, and from inside an action; and type
checkers check calls through them: mypy --strict with the roost.mypy plugin (refs_ok.py must pass,
every marked line of refs_bad.py fails), and without it, as pyright does (refs_plain.py)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import roost
from roost import Actor, BadRequest, Context, Value, action
from roost.errors import Forbidden
from roost.node.config import NodeConfig
from roost.node.node import Node
from roost.sdk.refs import Ref
from tests.conftest import free_port, need
from tests.sdk.typed_actors import Add, Counter, Order, Stock, Total, Warehouse

SAMPLES = Path(__file__).parent / "mypy_samples"


class Relay(Actor):
    """Calls other actors through `ctx.ref`."""

    name = "relay"

    @action
    async def stock(self, order: Order, ctx: Context) -> Value[Stock]:
        stock = await ctx.ref(Warehouse, "w-9").put(order)
        return Value().response(stock)

    @action
    async def later(self, req: Add, ctx: Context) -> Value[str]:
        return Value().response(await ctx.ref(Counter).add.delay(req, ms=0))


@pytest.fixture
async def system() -> AsyncIterator[roost.ActorSystem]:
    async with roost.ActorSystem("s", actors=[Counter, Warehouse, Relay]) as system:
        yield system


async def test_in_process_ref_returns_the_declared_type(system: roost.ActorSystem) -> None:
    counter = system.ref(Counter)
    assert isinstance(counter, Ref)
    assert await counter.add(Add(value=2)) == Total(total=2)
    assert await counter.get() == Total(total=2)
    w = system.ref(Warehouse, "w-1")  # unnamed: the template comes from the class
    await system.spawn("w-1", parent="warehouse")
    assert await w.put(Order(sku="x", qty=3)) == Stock(items={"x": 3})
    assert await w.count("x") == 3


async def test_ref_payloads_are_checked_and_names_are_actions(system: roost.ActorSystem) -> None:
    counter = system.ref(Counter)
    with pytest.raises(BadRequest, match=r"payload\.value: expected integer"):
        await counter.add({"value": "x"})  # type: ignore[arg-type]
    for attr in ("state_type", "name", "label"):  # what mypy refuses with roost.mypy
        with pytest.raises(AttributeError, match=f"has no action '{attr}'"):
            getattr(counter, attr)
    with pytest.raises(TypeError, match="takes one payload argument"):
        await counter.add()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="takes no payload"):
        await counter.get(Add(value=1))  # type: ignore[call-arg, arg-type]


def test_ref_targets_follow_the_class_kind(system: roost.ActorSystem) -> None:
    with pytest.raises(TypeError, match="unnamed template: give the instance's name"):
        system.ref(Warehouse)
    with pytest.raises(TypeError, match="its only name is 'typed-counter'"):
        system.ref(Counter, "c-2")
    assert system.ref(Warehouse, "w-1") == system.ref(Warehouse, "w-1")
    assert "w-1" in repr(system.ref(Warehouse, "w-1"))


async def test_delay_send_and_metadata(system: roost.ActorSystem) -> None:
    counter = system.ref(Counter)
    sid = await counter.add.delay(Add(value=5), ms=0)
    assert isinstance(sid, str) and sid
    with pytest.raises(TypeError, match="exactly one of"):
        await counter.add.delay(Add(value=5))
    # refused now, not lost in the background
    with pytest.raises(BadRequest, match=r"payload\.value"):
        await counter.add.send({"value": None})  # type: ignore[arg-type]
    await counter.add.send(Add(value=1), metadata={"trace": "t"})
    await asyncio.wait_for(_until_total(counter, 1), 5)
    fired = system.core.scheduler
    while fired.fired == 0:  # the scheduler loop polls every 0.5 s
        await asyncio.sleep(0.05)
    assert await counter.get() == Total(total=6)


async def _until_total(counter: Ref[Counter], at_least: int) -> None:
    while (await counter.get()).total < at_least:
        await asyncio.sleep(0.01)


async def test_refs_from_inside_an_action(system: roost.ActorSystem) -> None:
    await system.spawn("w-9", parent="warehouse")
    relay = system.ref(Relay)
    assert await relay.stock(Order(sku="k", qty=2)) == Stock(items={"k": 2})
    sid = await relay.later(Add(value=1))
    assert isinstance(sid, str)


async def test_module_level_ref_uses_the_running_system(system: roost.ActorSystem) -> None:
    assert await roost.ref(Counter).add(Add(value=4)) == Total(total=4)
    await roost.ref(Counter).add.send(Add(value=1))
    await asyncio.wait_for(_until_total(roost.ref(Counter), 5), 5)


@pytest.fixture
async def node(tmp_path: Path, key: str) -> AsyncIterator[Node]:
    cfg = NodeConfig(
        node_id="refs-test", http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db", statestore_key=key, proxy_http="off",
    )  # fmt: skip
    n = Node(cfg, actor_classes=[Counter, Warehouse])
    await n.start()
    yield n
    await n.drain()


async def test_refs_over_http_convert_replies_and_get_400s(node: Node) -> None:
    url = f"http://{node.config.http}"
    counter = roost.ref(Counter, url=url, system="spawn-system")
    assert await counter.add(Add(value=3)) == Total(total=3)  # a Total again, not a dict
    assert await counter.get() == Total(total=3)
    with pytest.raises(BadRequest, match=r"payload\.extra: unexpected field"):
        await roost.invoke("typed-counter", action="add", payload={"value": 1, "extra": 1}, url=url)
    assert await counter.get() == Total(total=3)
    await counter.add.send(Add(value=1))  # 202
    w = roost.ref(Warehouse, "w-1", url=url, system="spawn-system")
    await roost.invoke("w-1", action="put", payload={"sku": "a", "qty": 1}, url=url,
                       parent="warehouse")  # fmt: skip
    assert await w.put(Order(sku="a", qty=2)) == Stock(items={"a": 3})
    sid = await counter.add.delay(Add(value=1), ms=60_000)
    assert isinstance(sid, str) and sid


async def test_send_is_refused_at_once_when_the_acl_says_no(system: roost.ActorSystem) -> None:
    def deny(system: str, actor: str, action: str, caller: object = None) -> None:
        raise Forbidden("no")

    system.core.authorize = deny  # type: ignore[method-assign]
    with pytest.raises(Forbidden):
        await system.ref(Counter).add.send(Add(value=1))


# --- mypy -------------------------------------------------------------------------------------


def mypy_errors(tmp_path: Path, config: str, *samples: str) -> set[tuple[str, int, str]]:
    """(file, line, code) of each error mypy finds in `samples` under `config` (a mypy.ini)."""
    ini = tmp_path / "mypy.ini"
    ini.write_text(config)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ini),
         "--cache-dir", str(tmp_path / "cache"), "--no-error-summary",
         *(str(SAMPLES / s) for s in samples)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert not out.stderr, out.stderr
    found: set[tuple[str, int, str]] = set()
    for line in out.stdout.splitlines():
        if m := re.match(r"(.+?):(\d+): error: .*\[([\w-]+)\]$", line):
            found.add((Path(m[1]).name, int(m[2]), m[3]))
        else:
            assert ": note: " in line, line  # every error has a code
    return found


def marked(sample: str, marker: str) -> dict[int, str]:
    """By line number, the text of each end-of-line comment ``  # <marker>: <text>`` of `sample`."""
    lines = (SAMPLES / sample).read_text().splitlines()
    pattern = re.compile(rf"  # {marker}: (.+)$")
    return {n: m[1] for n, text in enumerate(lines, 1) if (m := pattern.search(text))}


def expected_errors(sample: str) -> set[tuple[str, int, str]]:
    """Each `# E: code [code...]` of `sample`: one error of each code on that line."""
    return {(sample, n, code) for n, codes in marked(sample, "E").items() for code in codes.split()}


@pytest.mark.slow
def test_mypy_with_the_plugin_checks_calls_and_refuses_non_actions(tmp_path: Path) -> None:
    """Under the configuration the README gives (--strict and the roost.mypy plugin): every
    `# E: code [code...]` line of refs_bad.py has errors of exactly those codes, no other line has
    any, and refs_ok.py (where a reference is a `Ref`, its actions `RefCall`s) has none at all."""
    found = mypy_errors(
        tmp_path, "[mypy]\nstrict = True\nplugins = roost.mypy\n", "refs_ok.py", "refs_bad.py"
    )
    expected = expected_errors("refs_bad.py")
    assert len(expected) >= 20
    assert found == expected


@pytest.mark.slow
def test_mypy_without_the_plugin_checks_names_payloads_and_replies(tmp_path: Path) -> None:
    """Plain mypy --strict, no plugin: a reference is typed as the actor class, so correct calls
    type-check with their declared replies and every `# E:` line of refs_plain.py has exactly its
    errors; but no `# passes:` line has one (non-actions are not caught: the documented
    limitation, which refs_bad.py shows the plugin lifts)."""
    found = mypy_errors(tmp_path, "[mypy]\nstrict = True\n", "refs_plain.py")
    expected = expected_errors("refs_plain.py")
    assert len(expected) >= 12
    assert found == expected
    accepted = marked("refs_plain.py", "passes")
    assert len(accepted) >= 5
    assert not {n for _, n, _ in found} & set(accepted)


PYRIGHT = shutil.which("pyright") or shutil.which("pyright", path=str(Path(sys.executable).parent))


@pytest.mark.slow
def test_pyright_checks_names_payloads_and_replies_too() -> None:
    """pyright (no plugin there) sees references as plain mypy does: refs_plain.py has an error on
    each `# E:` line (pyright's own codes), on no other, so none on a `# passes:` line either."""
    need(PYRIGHT is not None and shutil.which("node") is not None,
         "pyright (a dev dependency) or node is not installed")  # fmt: skip
    assert PYRIGHT is not None
    out = subprocess.run(
        [PYRIGHT, "--outputjson", "--pythonpath", sys.executable, str(SAMPLES / "refs_plain.py")],
        capture_output=True, text=True, check=False, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    report = json.loads(out.stdout)
    lines = {
        d["range"]["start"]["line"] + 1
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }
    assert lines == set(marked("refs_plain.py", "E")), out.stdout
