"""A Spawn actor host written against the protocol messages: JSON state, a few telling actions.

It serves /api/v1/actors/actions like a Spawn SDK: decodes `ActorInvocation`, runs the action,
answers `ActorInvocationResponse` (400 with an empty body when the action raises, as the Node
SDK does). `node_proxy` lets an action call back into the node's protocol invoke endpoint.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from roost.node.spawnproto import actor_pb2 as A
from roost.node.spawnproto import protocol_pb2 as P
from roost.node.spawnproto.wire import JSON_TYPE_1X, any_to_json, json_to_any
from tests.conftest import free_port
from tests.node.spawnproto.messages import CUSTOM

OCTET = {"Content-Type": "application/octet-stream"}


class FakeHost:
    def __init__(self, json_url: str = JSON_TYPE_1X, system: str = "spawn-system") -> None:
        self.json_url = json_url
        self.system = system
        self.port = free_port()
        self.calls: list[P.ActorInvocation] = []
        self.node_proxy = ""
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def registration(self, major: int = 1, *, unnamed: bool = False) -> P.RegistrationRequest:
        reg = P.RegistrationRequest()
        reg.service_info.service_name = "fake-host"
        reg.service_info.protocol_major_version, reg.service_info.protocol_minor_version = major, 1
        reg.actor_system.name = self.system
        a = reg.actor_system.registry.actors["js-counter"]
        a.id.name, a.id.system = "js-counter", self.system
        a.state.state.CopyFrom(json_to_any({"total": 0}, self.json_url))
        a.settings.kind = A.UNNAMED if unnamed else A.NAMED
        a.settings.stateful = True
        for name in ("add", "init", "fail", "echo", "custom", "pipe", "call_python"):
            a.actions.add(name=name)
        return reg

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v1/actors/actions", self._actions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def register(self, proxy: str, reg: P.RegistrationRequest) -> tuple[int, Any]:
        headers = {**OCTET, "X-Roost-Actor-Host-Port": str(self.port)}
        async with (
            aiohttp.ClientSession() as s,
            s.post(f"{proxy}/api/v1/system", data=reg.SerializeToString(), headers=headers) as r,
        ):
            out = P.RegistrationResponse()
            out.ParseFromString(await r.read())
            return r.status, out

    async def _actions(self, request: web.Request) -> web.Response:
        inv = P.ActorInvocation()
        inv.ParseFromString(await request.read())
        self.calls.append(inv)
        try:
            out = await self._run(inv)
        except Exception:
            return web.Response(status=400)
        return web.Response(body=out.SerializeToString(), headers=OCTET)

    async def _run(self, inv: P.ActorInvocation) -> P.ActorInvocationResponse:
        ctx = inv.current_context
        state = any_to_json(ctx.state) if ctx.state.type_url else {}
        payload = any_to_json(inv.value) if inv.WhichOneof("payload") == "value" else None
        out = P.ActorInvocationResponse(actor_name=inv.actor.name, actor_system=inv.actor.system)
        out.updated_context.CopyFrom(ctx)
        reply: Any = None
        match inv.action_name:
            case "add":
                state = {**state, "total": state.get("total", 0) + payload["value"]}
                reply = {"total": state["total"]}
            case "init":
                state = {**state, "inits": state.get("inits", 0) + 1}
            case "fail":
                raise RuntimeError("boom")
            case "echo":
                out.updated_context.tags["seen"] = str(len(self.calls))
                reply = {
                    "caller": [inv.caller.name, inv.caller.system],
                    "metadata": dict(ctx.metadata),
                    "tags": dict(ctx.tags),
                    "self": [ctx.self.name, ctx.self.system, ctx.self.parent],
                    "payload": payload,
                    "state_url": ctx.state.type_url,
                    "payload_url": inv.value.type_url,
                }
            case "custom":  # a non-JSON Any as state and reply: must come back byte for byte
                out.updated_context.state.CopyFrom(CUSTOM)
                out.value.CopyFrom(CUSTOM)
                out.checkpoint = True
                return out
            case "pipe":
                out.workflow.pipe.actor, out.workflow.pipe.action_name = "incrementor", "add"
                reply = {"value": payload["value"]}
            case "call_python":
                reply = await self._call_python(inv, payload)
        if ctx.state.type_url != CUSTOM.type_url:
            out.updated_context.state.CopyFrom(json_to_any(state, self.json_url))
        if reply is not None:
            out.value.CopyFrom(json_to_any(reply, self.json_url))
        else:
            out.noop.SetInParent()
        return out

    async def _call_python(self, inv: P.ActorInvocation, payload: Any) -> Any:
        """A host action invoking a Python actor through the node's protocol endpoint."""
        q = P.InvocationRequest(action_name=payload["action"])
        q.system.name = inv.actor.system
        q.actor.id.name, q.actor.id.system = payload["actor"], inv.actor.system
        q.value.CopyFrom(json_to_any(payload.get("payload"), self.json_url))
        q.caller.CopyFrom(inv.actor)
        q.metadata["from"] = "js"
        url = f"{self.node_proxy}/api/v1/system/{q.system.name}/actors/{payload['actor']}/invoke"
        async with (
            aiohttp.ClientSession() as s,
            s.post(url, data=q.SerializeToString(), headers=OCTET) as r,
        ):
            resp = P.InvocationResponse()
            resp.ParseFromString(await r.read())
        assert resp.status.status == P.OK, resp
        return {"reply": any_to_json(resp.value), "url": resp.value.type_url}
