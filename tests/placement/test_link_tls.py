"""The peer link under mutual TLS (`--tls-ca`): a peer without a client certificate signed by
the CA is refused before its HELLO is read, whatever secret it knows; one with it is served."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from examples.counters import Counter
from roost.placement import frames as f
from roost.placement.auth import derive_key
from roost.placement.forward import HttpForwarder
from roost.placement.link import LinkForwarder
from tests.node.fake_cluster import SECRET, cluster
from tests.node.test_tls import Pki, _mutual, _trusting, pki  # noqa: F401 - pki: a fixture


async def test_a_link_client_without_a_certificate_is_refused(
    tmp_path: Path,
    key: str,
    pki: Pki,  # noqa: F811 - the fixture imported above
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "roost.link")
    async with cluster(tmp_path, key, ["m1"], [Counter], **_mutual(pki)) as (n,):
        assert n.link_server is not None
        fwd = LinkForwarder("x", derive_key(SECRET, "internal-http"), HttpForwarder(b""))
        hello = f.encode(f.HELLO, 0, fwd._hello("m1"))  # the right secret, no certificate
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", n.link_server.port, ssl=_trusting(pki), server_hostname="127.0.0.1"
        )
        writer.write(hello)
        frames = list(f.FrameReader(1 << 20).feed(await asyncio.wait_for(reader.read(), 5)))
        writer.close()
        assert [x.kind for x in frames] == [f.DENIED]
        assert "client certificate" in frames[0].header["reason"]
        assert "client certificate signed by --tls-ca is required" in caplog.text

        with_cert = _trusting(pki)
        with_cert.load_cert_chain(pki.cert, pki.key)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", n.link_server.port, ssl=with_cert, server_hostname="127.0.0.1"
        )
        writer.write(f.encode(f.HELLO, 0, fwd._hello("m1")))
        got = list(f.FrameReader(1 << 20).feed(await asyncio.wait_for(reader.read(64), 5)))
        assert [x.kind for x in got] == [f.WELCOME]
        writer.close()
        await fwd.close()
