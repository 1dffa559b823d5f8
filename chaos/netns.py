"""Network namespaces for a chaos cluster, and the firewall rules faults put in them.

Topology (all names start with ``rcx<harness pid>-`` so a later run can tell its leftovers):

    <p>-br   a namespace holding only the bridge br0 and one veth end per member
    <p>-n1.. one namespace per node: eth0 = 10.77.0.<i>, lo
    <p>-c    the client namespace (10.77.0.100): the harness's workload runs here

The host namespace gets no interface and no address; veth pairs are created directly inside
the namespaces. Rules are iptables rules inside a node's namespace, so deleting the namespace
deletes them. Command lists are built by pure functions (tested); `sh` runs them.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

SUBNET = "10.77.0"
CLIENT_HOST = 100
PREFIX_RE = re.compile(r"^rcx(\d+)-")
CLONE_NEWNET = 0x40000000

Cmd = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Topology:
    prefix: str  # "rcx<pid>"
    nodes: int

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @property
    def client(self) -> str:
        return f"{self.prefix}-c"

    def node(self, i: int) -> str:
        return f"{self.prefix}-n{i + 1}"

    def addr(self, i: int) -> str:
        return f"{SUBNET}.{i + 1}"

    @property
    def client_addr(self) -> str:
        return f"{SUBNET}.{CLIENT_HOST}"

    def members(self) -> list[tuple[str, str, str]]:
        """(namespace, address, bridge port name) of every node and the client."""
        out = [(self.node(i), self.addr(i), f"p{i + 1}") for i in range(self.nodes)]
        return [*out, (self.client, self.client_addr, "pc")]

    def namespaces(self) -> list[str]:
        return [self.bridge, *(m[0] for m in self.members())]


def create_commands(t: Topology) -> list[Cmd]:
    cmds: list[Cmd] = [("ip", "netns", "add", ns) for ns in t.namespaces()]
    br = t.bridge
    cmds += [
        ("ip", "-n", br, "link", "add", "br0", "type", "bridge"),
        ("ip", "-n", br, "link", "set", "br0", "up"),
    ]
    for ns, addr, port in t.members():
        cmds += [
            (
                "ip",
                "-n",
                br,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            ),
            ("ip", "-n", br, "link", "set", port, "master", "br0", "up"),
            ("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0"),
            ("ip", "-n", ns, "link", "set", "eth0", "up"),
            ("ip", "-n", ns, "link", "set", "lo", "up"),
        ]
    return cmds


def delete_commands(namespaces: Iterable[str]) -> list[Cmd]:
    return [("ip", "netns", "del", ns) for ns in namespaces]


# --- fault rules ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One iptables rule in one namespace; `add` and `delete` give the two commands."""

    ns: str
    chain: str
    spec: tuple[str, ...]

    def add(self) -> Cmd:
        return ("ip", "netns", "exec", self.ns, "iptables", "-w", "-I", self.chain, *self.spec)

    def delete(self) -> Cmd:
        return ("ip", "netns", "exec", self.ns, "iptables", "-w", "-D", self.chain, *self.spec)


def block(t: Topology, senders: Sequence[int], receivers: Sequence[int]) -> list[Rule]:
    """Silently drop every packet from `senders` at `receivers`.

    Only INPUT rules, on the receiving side: a DROP in OUTPUT makes the sender's own sendto()
    fail at once with EPERM, which no real network does, and which Serf's memberlist treats as
    "could not send" rather than "no answer", so it never suspects the peer."""
    return [
        Rule(t.node(r), "INPUT", ("-s", t.addr(s), "-j", "DROP"))
        for s in senders
        for r in receivers
    ]


def partition(t: Topology, a: Sequence[int], b: Sequence[int]) -> list[Rule]:
    return block(t, a, b) + block(t, b, a)


def loss(t: Topology, targets: Sequence[int], probability: float) -> list[Rule]:
    spec = (
        "-i",
        "eth0",
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        f"{probability:.4f}",
        "-j",
        "DROP",
    )
    return [Rule(t.node(i), "INPUT", spec) for i in targets]


def tbf_add(t: Topology, i: int, kbit: float) -> Cmd:
    return (
        "ip",
        "netns",
        "exec",
        t.node(i),
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "tbf",
        "rate",
        f"{int(kbit)}kbit",
        "burst",
        "32kbit",
        "latency",
        "400ms",
    )


def tbf_del(t: Topology, i: int) -> Cmd:
    return ("ip", "netns", "exec", t.node(i), "tc", "qdisc", "del", "dev", "eth0", "root")


# --- running commands, entering namespaces ------------------------------------------------------


class CommandError(RuntimeError):
    pass


def sh(cmd: Cmd, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if check and p.returncode != 0:
        raise CommandError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:300]}")
    return p


def list_namespaces() -> list[str]:
    p = sh(("ip", "netns", "list"), check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def leftovers(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """Our namespaces whose harness process is gone (never those of a run still going)."""
    out = []
    for name in names:
        m = PREFIX_RE.match(name)
        if m and not alive(int(m.group(1))):
            out.append(name)
    return out


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def enter(path: str) -> None:
    """Move the calling thread into the network namespace at `path` (/run/netns/NAME or
    /proc/self/ns/net). Threads started afterwards inherit it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


class Held:
    """Keeps a handle on the namespace we started in, to go back to it for cleanup."""

    def __init__(self) -> None:
        self.fd = os.open("/proc/self/ns/net", os.O_RDONLY)

    def restore(self) -> None:
        if _libc().setns(self.fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns(original): {os.strerror(err)}")

    def close(self) -> None:
        os.close(self.fd)
