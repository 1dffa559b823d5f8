"""The Node SDK's ring (sdks/node/src/ring.ts) names the same owner as the nodes' ring
(roost.placement.ring) for the same members: fed the same member sets, both are compared on
thousands of keys, including non-ASCII names (UTF-8 order, not UTF-16) and per-system subsets."""

from __future__ import annotations

import json
import subprocess

from roost.placement.ring import Ring
from tests.sdks.nodesdk import node_sdk

CASES = [
    (["roost-0", "roost-1", "roost-2"], 1000),
    ([f"node-{i}" for i in range(10)], 1000),
    (["a", "b"], 1),
    (["zebra", "émile", "日本", "😀-node", "Zed", "\uff41"], 37),
    ([f"pod-{i}.roost.svc" for i in range(5)], 160),
]
KEYS = 4000

SCRIPT = """
const { Ring } = require(process.argv[1] + '/dist/src/ring.js');
const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = cases.map(([members, vnodes, systems, keys]) => {
  const full = new Ring(members, vnodes);
  const sub = full.subset(members.slice(0, Math.max(1, members.length - 1)));
  return keys.map((k, i) => [full.owner(systems[i % systems.length], k),
                             sub.owner(systems[i % systems.length], k)]);
});
process.stdout.write(JSON.stringify(out));
"""


def test_node_and_python_rings_name_the_same_owners() -> None:
    node, sdk = node_sdk()
    systems = ["spawn-system", "orders", "système"]
    keys = [f"actor-{i}" if i % 3 else f"ключ-{i}/x" for i in range(KEYS)]
    feed = [[members, vnodes, systems, keys] for members, vnodes in CASES]
    done = subprocess.run(
        [node, "-e", SCRIPT, str(sdk)],
        input=json.dumps(feed),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout)
    for (members, vnodes), owners in zip(CASES, got, strict=True):
        full = Ring(members, vnodes)
        sub = full.subset(members[: max(1, len(members) - 1)])
        want = [
            [full.owner(systems[i % 3], k), sub.owner(systems[i % 3], k)]
            for i, k in enumerate(keys)
        ]
        assert owners == want, f"owners differ for {members} x {vnodes}"
        assert len({o for o, _ in owners}) == len(members)  # every member owns some keys
