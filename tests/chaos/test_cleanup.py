"""What the harness creates and how it finds what a crashed run left behind."""

from __future__ import annotations

import os

from chaos import cleanup, netns
from chaos.cluster import descendants


def test_leftovers_are_only_those_of_harnesses_that_are_gone() -> None:
    alive = {111}.__contains__
    names = ["rcx111-n1", "rcx222-n1", "rcx222-br", "other-ns", "rcx-n1", "rcx333_0"]
    assert cleanup.stale(names, alive) == ["rcx222-n1", "rcx222-br", "rcx333_0"]
    assert netns.leftovers(names, alive) == ["rcx222-n1", "rcx222-br"]


def test_stale_processes_are_nodes_and_agents_of_dead_harnesses() -> None:
    cmdlines = {
        10: "/venv/bin/python -m roost node --node-id rcx222-n1 --system chaos",
        11: "serf agent -node=rcx222-n1 -bind=10.77.0.1:7946",
        12: "/venv/bin/python -m roost node --node-id rcx111-n1",  # its harness runs
        13: "/venv/bin/python -m roost node --node-id bench-n1",  # not ours
        14: "vim rcx222-notes.txt",  # not a node
        15: "/venv/bin/python -m chaos --smoke",  # a harness itself
    }
    assert cleanup.stale_processes(cmdlines, {111}.__contains__) == [10, 11]


def test_harness_alive_recognises_this_process() -> None:
    assert cleanup.harness_alive(os.getpid())
    assert not cleanup.harness_alive(2**22 + 12345)  # beyond pid_max: never a process


def test_topology_commands_create_no_host_interface() -> None:
    t = netns.Topology("rcx42", 3)
    cmds = netns.create_commands(t)
    assert t.namespaces() == ["rcx42-br", "rcx42-n1", "rcx42-n2", "rcx42-n3", "rcx42-c"]
    for c in cmds:
        # every link or address command names a namespace (-n NS); only `netns add` does not
        assert c[:3] == ("ip", "netns", "add") or c[1] == "-n", c
    veths = [c for c in cmds if "veth" in c]
    assert len(veths) == 4 and all(c[c.index("netns") + 1] in t.namespaces() for c in veths)
    assert netns.delete_commands(t.namespaces())[0] == ("ip", "netns", "del", "rcx42-br")
    assert all(len(name) <= 15 for name in ("p1", "pc", "eth0", "br0"))  # IFNAMSIZ


def test_partition_rules_block_both_ways_and_delete_what_they_add() -> None:
    t = netns.Topology("rcx42", 3)
    rules = netns.partition(t, [0], [1, 2])
    assert len(rules) == 4
    assert all(r.chain == "INPUT" for r in rules)  # silent drops: senders see no error
    assert netns.Rule("rcx42-n2", "INPUT", ("-s", "10.77.0.1", "-j", "DROP")) in rules
    assert netns.Rule("rcx42-n1", "INPUT", ("-s", "10.77.0.3", "-j", "DROP")) in rules
    assert netns.block(t, [0], [1]) == [
        netns.Rule("rcx42-n2", "INPUT", ("-s", "10.77.0.1", "-j", "DROP"))
    ]
    r = rules[0]
    assert r.add()[:4] == ("ip", "netns", "exec", r.ns)
    assert r.add()[r.add().index("-I") + 1 :] == r.delete()[r.delete().index("-D") + 1 :]


def test_loss_rule_uses_statistic_match_on_the_bridge_interface() -> None:
    (r,) = netns.loss(netns.Topology("rcx42", 2), [1], 0.1)
    assert r.ns == "rcx42-n2"
    assert "statistic" in r.spec and "0.1000" in r.spec and r.spec[:2] == ("-i", "eth0")


def test_descendants_walks_the_process_tree() -> None:
    parents = {2: 1, 3: 2, 4: 3, 5: 1, 6: 99, 7: 6}
    assert sorted(descendants(1, parents)) == [2, 3, 4, 5]
    assert descendants(4, parents) == []


def test_descendants_of_this_process_include_a_child() -> None:
    import subprocess

    child = subprocess.Popen(["sleep", "5"])
    try:
        assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()
