"""Which HTTP server to put under the API (issue 18): the same counter endpoint on three
servers, measured with wrk side by side (`python -m bench.servers`, writes
bench/results/servers.json; quoted in bench/PROFILE.md).

- aiohttp-app: `web.Application` + router (what the node ran, and the issue's "bare" handler)
- aiohttp-lowlevel: `web.Server` with one raw handler (no router, no middleware; still aiohttp's
  request objects)
- httptools: `roost.node.server.HttpServer` with one route, the server the node now runs
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.common import (
    ROOT,
    Scale,
    cycling_lua,
    free_port,
    serve,
    stop,
    summarize_runs,
    wrk,
    wrk_cpu,
)
from bench.core import _BARE_SERVER, HTTP_CONNECTIONS, TALLY_PATHS

_PRELUDE = r"""
import sys, orjson, uvloop, asyncio
totals = {}
def count(name, body):
    payload = orjson.loads(body)
    totals[name] = totals.get(name, 0) + payload["value"]
    return orjson.dumps({"total": totals[name]})
"""

_LOWLEVEL = (
    _PRELUDE
    + r"""
from aiohttp import web
async def handler(request):
    if request.path == "/readyz":
        return web.Response(text="ok")
    body = count(request.path.split("/")[5], await request.read())
    return web.Response(body=body, content_type="application/json")
async def main():
    server = web.Server(handler, access_log=None)
    loop = asyncio.get_running_loop()
    await loop.create_server(server, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    await asyncio.Event().wait()
uvloop.run(main())
"""
)

_HTTPTOOLS = (
    _PRELUDE
    + r"""
from roost.node.responses import Reply
from roost.node.routes import Routes
from roost.node.server import HttpServer
async def add(request):
    return Reply(200, count(request.match_info["actor"], await request.read()))
async def ready(request):
    return Reply(200, b"ok", "text/plain")
async def main():
    r = Routes()
    r.post("/v1/systems/{system}/actors/{actor}/actions/{action}", add)
    r.get("/readyz", ready)
    server = HttpServer(r, max_body=1 << 20)
    await server.start("127.0.0.1", int(sys.argv[1]))
    await asyncio.Event().wait()
uvloop.run(main())
"""
)

SERVERS = {"aiohttp-app": _BARE_SERVER, "aiohttp-lowlevel": _LOWLEVEL, "httptools": _HTTPTOOLS}


def run(seconds: int = 4) -> dict[str, Any]:
    script = cycling_lua(TALLY_PATHS)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in SERVERS}
    for _ in range(Scale.repeat):
        for name, program in SERVERS.items():
            port = free_port()
            proc = serve([sys.executable, "-c", program, str(port)], port)
            url = f"http://127.0.0.1:{port}/"
            try:
                wrk(url, 1, HTTP_CONNECTIONS, script)
                runs[name].append(
                    wrk_cpu(proc.pid, url, seconds, connections=HTTP_CONNECTIONS, script=script)
                )
            finally:
                stop(proc)
    out: dict[str, Any] = {k: summarize_runs(v) for k, v in runs.items()}
    out["wrk"] = f"-t1 -c{HTTP_CONNECTIONS} -d{seconds}s, 1,000 actor names"
    return out


if __name__ == "__main__":
    result = run()
    (ROOT / "bench" / "results" / "servers.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
