"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket, with aiohttp).

No driver binary, no Python browser package, no network: the browser runs with a fresh profile,
announces its debugging port in `DevToolsActivePort`, and we speak CDP to one page target. Every
console error, uncaught exception and browser-logged error (failed loads, CSP refusals) of that
page is collected in `Page.errors`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, conn: Cdp, session: str) -> None:
        self.conn = conn
        self.session = session
        self.errors: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.conn.call(method, session=self.session, **params)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            d = params["exceptionDetails"]
            self.errors.append(f"exception: {d.get('exception', {}).get('description', d['text'])}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            e = params["entry"]
            self.errors.append(f"log: {e['text']} {e.get('url', '')}".strip())

    async def goto(self, url: str) -> None:
        result = await self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise AssertionError(f"navigating to {url}: {result['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']['text']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll `expression` until it is truthy; its last value (or error) in the assertion."""
        value = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                value = await self.evaluate(expression)
            except AssertionError as exc:  # e.g. no document.body yet while navigating
                value = str(exc)
            else:
                if value:
                    return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"{expression} still {value!r} after {timeout}s; errors {self.errors}")


class Cdp:
    """One websocket to the browser; replies matched by id, events routed by session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.pages: dict[str, Page] = {}

    async def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[msg_id] = fut
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session is not None:
            msg["sessionId"] = session
        await self.ws.send_json(msg)
        async with asyncio.timeout(30):
            return await fut

    async def read(self) -> None:
        async for frame in self.ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            msg = frame.json()
            if "id" in msg:
                fut = self._replies.pop(msg["id"])
                if "error" in msg:
                    fut.set_exception(AssertionError(f"CDP error: {msg['error']}"))
                else:
                    fut.set_result(msg.get("result", {}))
            elif msg.get("sessionId") in self.pages:
                self.pages[msg["sessionId"]].on_event(msg["method"], msg.get("params", {}))

    async def new_page(self) -> Page:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        self.pages[page.session] = page
        for domain in ("Runtime", "Log", "Page"):
            await page.call(f"{domain}.enable")
        return page


def _prepare(profile: Path) -> BinaryIO:
    """An empty profile directory, and the file the browser's own output goes to."""
    profile.mkdir(parents=True, exist_ok=True)
    return (profile.parent / "chromium.log").open("wb")


@contextlib.asynccontextmanager
async def launch(binary: str, profile: Path) -> AsyncIterator[Cdp]:
    """Start Chromium with an empty profile in `profile`, connected over CDP; stop it on exit."""
    log = _prepare(profile)
    proc = await asyncio.create_subprocess_exec(
        binary, *FLAGS, f"--user-data-dir={profile}", "about:blank",
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        async with asyncio.timeout(60):
            while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
                if proc.returncode is not None:
                    raise AssertionError(f"chromium exited with {proc.returncode}; see {log.name}")
                await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0) as ws,
        ):
            conn = Cdp(ws)
            reader = asyncio.get_running_loop().create_task(conn.read())
            try:
                yield conn
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        with contextlib.suppress(ProcessLookupError):  # helpers it started, in its own group
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
