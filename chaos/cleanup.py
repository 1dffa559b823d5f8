"""Finding and removing what a crashed harness left behind, by name prefix.

Everything a run creates carries ``rcx<harness pid>``: namespaces (``rcx123-n1``), node ids and
so process command lines (``--node-id rcx123-n1``, serf's ``-node=rcx123-n1``), PostgreSQL
schemas (``rcx123_0``) and the run directory (``/tmp/rcx123-...``). A leftover is one whose
harness pid no longer runs the harness; a run still going is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from chaos import netns

OWNER = re.compile(r"rcx(\d+)[-_]")
MARK = "chaos"  # what a live harness has in its command line


def owner_pid(name: str) -> int | None:
    m = OWNER.search(name)
    return int(m.group(1)) if m else None


def harness_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return MARK.encode() in f.read()
    except OSError:
        return False


def stale(names: Iterable[str], alive: Callable[[int], bool] = harness_alive) -> list[str]:
    """The names in `names` that belong to a harness that is gone."""
    out = []
    for name in names:
        pid = owner_pid(name)
        if pid is not None and not alive(pid):
            out.append(name)
    return out


def stale_processes(
    cmdlines: dict[int, str], alive: Callable[[int], bool] = harness_alive
) -> list[int]:
    """Pids of roost nodes or serf agents started by a harness that is gone."""
    out = []
    for pid, cmd in cmdlines.items():
        if ("roost" not in cmd and "serf" not in cmd) or "rcx" not in cmd:
            continue
        owner = owner_pid(cmd)
        if owner is not None and owner != pid and not alive(owner):
            out.append(pid)
    return out


def _cmdlines() -> dict[int, str]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                out[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
    return out


def run_dirs() -> list[Path]:
    """Our run directories, and serf work dirs of nodes that were killed before removing them."""
    tmp = Path(tempfile.gettempdir())
    return sorted([*tmp.glob("rcx*"), *tmp.glob("roost-serf-rcx*")])


def sweep_local(*, use_netns: bool) -> list[str]:
    """Kill leftover processes, delete leftover namespaces and run dirs; returns what it did."""
    done = []
    for pid in stale_processes(_cmdlines()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            done.append(f"killed leftover process {pid}")
    if use_netns:
        for ns in netns.leftovers(netns.list_namespaces(), harness_alive):
            netns.sh(("ip", "netns", "del", ns), check=False)
            done.append(f"deleted leftover namespace {ns}")
    for d in run_dirs():
        if stale([d.name.removeprefix("roost-serf-")]):
            shutil.rmtree(d, ignore_errors=True)
            done.append(f"removed leftover directory {d}")
    return done


SCHEMA_QUERY = r"SELECT nspname FROM pg_namespace WHERE nspname ~ '^rcx[0-9]+_'"


async def sweep_schemas(dsn: str, keep: Callable[[int], bool] = harness_alive) -> list[str]:
    """Drop the PostgreSQL schemas of harness runs that are gone."""
    import asyncpg

    done = []
    conn = await asyncpg.connect(dsn)
    try:
        names = [r[0] for r in await conn.fetch(SCHEMA_QUERY)]
        for name in stale(names, keep):
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            done.append(f"dropped leftover schema {name}")
    finally:
        await conn.close()
    return done


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
