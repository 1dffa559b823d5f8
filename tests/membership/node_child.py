"""Run one SerfMembership as its own process (a "node" a test can kill -9).

Usage: python -m tests.membership.node_child NODE_ID GOSSIP_PORT SEED SERF_BIN
The cluster secret comes from ROOST_CLUSTER_SECRET. Prints "ready" once active.
"""

from __future__ import annotations

import asyncio
import os
import sys

from roost.membership import MemberStatus, SerfMembership, SerfSettings


async def main(node_id: str, port: int, seed: str, serf_bin: str) -> None:
    settings = SerfSettings(
        node_id=node_id,
        gossip_bind=f"127.0.0.1:{port}",
        http_advertise="127.0.0.1:1",
        seeds=(seed,),
        secret=os.environ["ROOST_CLUSTER_SECRET"],
        serf_bin=serf_bin,
        log_level="err",
    )
    membership = SerfMembership(settings)
    await membership.start()
    await membership.set_status(MemberStatus.ACTIVE)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
