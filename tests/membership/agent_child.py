"""Run one SerfAgent in this process and print its serf pid; for the pdeathsig test.

Usage: python -m tests.membership.agent_child SERF_BIN WORK_DIR GOSSIP_PORT
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from roost.membership import SerfAgent, SerfSettings


async def main(serf_bin: str, work_dir: str, port: int) -> None:
    # log_level=err: serf writes nothing after start-up, so it cannot die of SIGPIPE on its
    # log pipe; only PR_SET_PDEATHSIG can take it down when we are killed.
    settings = SerfSettings(
        node_id="orphan-check", gossip_bind=f"127.0.0.1:{port}", serf_bin=serf_bin, log_level="err"
    )
    agent = SerfAgent(settings, Path(work_dir), rpc_token="t", keys=[], tags=dict)
    await agent.start()
    print(agent.pid, flush=True)
    await agent.supervise()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
