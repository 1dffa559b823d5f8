"""TLS: HTTPS on the API, verified https between peers (mutual TLS with --tls-ca), clients that
verify the node, certificates reloaded in place, and bad files refused at start."""

from __future__ import annotations

import asyncio
import datetime
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from examples.composing import ACTORS
from examples.counters import Counter, Incrementor
from roost.errors import ConfigError, Unavailable
from roost.membership.base import Member, MemberStatus
from roost.node.client import Client
from roost.node.config import NodeConfig, add_arguments, from_args
from roost.node.node import Node
from roost.node.tls import client_context, remote_context
from roost.placement.auth import HEADER, derive_key, sign
from roost.placement.forward import HttpForwarder
from roost.placement.gateway import HttpRemoteSystems
from roost.placement.router import Unreachable
from tests.conftest import free_port
from tests.node.fake_cluster import SECRET, cluster, owned_by
from tests.node.test_compose_cluster import eventually

SYS = "spawn-system"
A = f"/v1/systems/{SYS}/actors"


# --- a throwaway PKI ------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True, slots=True)
class Pki:
    dir: Path
    ca: Path  # the CA that signed the node certificate
    cert: Path  # for 127.0.0.1 (IP SAN), server and client auth
    key: Path
    other_ca: Path  # a CA that signed nothing here
    ca_key: ec.EllipticCurvePrivateKey

    def issue(self, cert: Path, key: Path, cn: str = "roost-node") -> int:
        """Sign a new 127.0.0.1 certificate into `cert`/`key`; returns its serial number."""
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name("roost test CA"))
            .public_key(leaf_key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        key.write_bytes(_pem_key(leaf_key))
        cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        return serial


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca_pem = _ca("roost test CA")
    _, other_pem = _ca("some other CA")
    (d / "ca.crt").write_bytes(ca_pem)
    (d / "other-ca.crt").write_bytes(other_pem)
    p = Pki(d, d / "ca.crt", d / "tls.crt", d / "tls.key", d / "other-ca.crt", ca_key)
    p.issue(p.cert, p.key)
    return p


def _config(tmp_path: Path, key: str, **tls: Any) -> NodeConfig:
    return NodeConfig(
        node_id="tls-test",
        http=f"127.0.0.1:{free_port()}",
        statestore=f"sqlite:///{tmp_path}/roost.db",
        statestore_key=key,
        proxy_http="off",
        **tls,
    )


@pytest.fixture
async def node(tmp_path: Path, key: str, pki: Pki) -> AsyncIterator[Node]:
    cfg = _config(tmp_path, key, tls_cert=str(pki.cert), tls_key=str(pki.key))
    n = Node(cfg, actor_classes=[Incrementor, Counter])
    await n.start()
    yield n
    await n.drain()


def _trusting(pki: Pki) -> ssl.SSLContext:
    return client_context(str(pki.ca))


async def _get(url: str, ssl_: ssl.SSLContext | bool, **kw: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_)) as s,
        s.get(url, **kw) as r,
    ):
        raw = await r.read()
        return r.status, json.loads(raw) if raw else None


# --- the API over HTTPS ---------------------------------------------------------------------


async def test_a_node_with_a_certificate_serves_https_and_refuses_plain_http(
    node: Node, pki: Pki
) -> None:
    addr = node.config.http
    status, body = await _get(f"https://{addr}/healthz", _trusting(pki))
    assert (status, body["status"]) == (200, "ok")
    with pytest.raises(aiohttp.ClientError):
        await _get(f"http://{addr}/healthz", True)
    assert node.tls is not None and node.tls.server.minimum_version == ssl.TLSVersion.TLSv1_2


async def test_the_image_healthcheck_speaks_https_when_tls_is_on(node: Node, pki: Pki) -> None:
    """The Dockerfile's HEALTHCHECK command, run as the image runs it, against a TLS node (and,
    without ROOST_TLS_CERT, it must fail: the node refuses plain HTTP)."""
    import asyncio
    import os
    import sys

    from tests.helm.test_dockerfile import runtime_stage

    argv = json.loads(dict(runtime_stage())["HEALTHCHECK"].split("CMD", 1)[1])
    assert argv[0] == "python"
    env = {**os.environ, "ROOST_HTTP_ADDR": node.config.http, "ROOST_TLS_CERT": str(pki.cert)}
    codes = []
    for e in (env, {k: v for k, v in env.items() if k != "ROOST_TLS_CERT"}):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *argv[1:], env=e, stderr=asyncio.subprocess.DEVNULL
        )
        codes.append(await proc.wait())
    assert codes[0] == 0 and codes[1] != 0


async def test_a_client_verifies_the_node_against_the_ca(
    node: Node, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"https://{node.config.http}"
    monkeypatch.delenv("ROOST_TLS_CA", raising=False)
    async with Client(url, ca=str(pki.ca)) as c:
        assert await c.invoke("incrementor", "add", {"value": 2}) == {"total": 2}
    for ca in (None, str(pki.other_ca)):  # the system store, then a CA that did not sign it
        async with Client(url, ca=ca) as c:
            with pytest.raises(Unavailable, match="certificate verify failed"):
                await c.invoke("incrementor", "add", {"value": 2})
    monkeypatch.setenv("ROOST_TLS_CA", str(pki.ca))  # what `roost invoke --url https://` reads
    async with Client(url) as c:
        assert await c.invoke("incrementor", "add", {"value": 1}) == {"total": 3}
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _get(f"{url}/healthz", True)


async def test_a_renewed_certificate_is_served_without_a_restart(
    tmp_path: Path, key: str, pki: Pki
) -> None:
    cert, tls_key = tmp_path / "tls.crt", tmp_path / "tls.key"
    first = pki.issue(cert, tls_key)
    n = Node(_config(tmp_path, key, tls_cert=str(cert), tls_key=str(tls_key)), actor_classes=[])
    await n.start()
    try:
        host, port = n.config.http_host_port

        async def served_serial() -> int:
            _, writer = await asyncio.open_connection(host, port, ssl=_trusting(pki))
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            writer.close()
            return int(x509.load_der_x509_certificate(der).serial_number)

        assert await served_serial() == first
        assert n.tls is not None and n.tls.reload() is False  # nothing changed
        second = pki.issue(cert, tls_key)  # what cert-manager does on renewal
        assert n.tls.reload() is True
        assert await served_serial() == second
        tls_key.write_text("not yet written\n")  # a half-done update keeps the last good pair
        assert n.tls.reload() is False
        assert await served_serial() == second
    finally:
        await n.drain()


# --- node to node ---------------------------------------------------------------------------

IDS = ["t1", "t2"]


def _mutual(pki: Pki) -> dict[str, Any]:
    """Settings of a cluster whose nodes verify each other with the CA (mutual TLS)."""
    return {
        "tls_cert": str(pki.cert), "tls_key": str(pki.key), "tls_ca": str(pki.ca),
        "proxy_http": "off",
    }  # fmt: skip


async def _post(s: aiohttp.ClientSession, node: Node, path: str, body: Any = None) -> Any:
    data = b"" if body is None else json.dumps(body).encode()
    url = f"https://{node.config.http}{A}/{path}"
    async with s.post(url, data=data, headers={"Content-Type": "application/json"}) as r:
        return r.status, await r.json()


async def test_peers_forward_broadcast_and_report_over_mutual_tls(
    tmp_path: Path, key: str, pki: Pki
) -> None:
    ctx = _trusting(pki)
    async with (
        cluster(tmp_path, key, IDS, [*ACTORS, Counter], **_mutual(pki)) as nodes,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s,
    ):
        far = owned_by("t2", IDS, SYS, "c-")
        reply = await _post(s, nodes[0], f"{far}/actions/add?parent=counter", {"value": 5})
        assert reply == (200, {"total": 5})
        assert sum(nodes[0].metrics.forwarded.values()) >= 1  # t1 called t2 over https

        shippers = [owned_by(n, IDS, SYS, "ship-") for n in IDS]  # a subscriber on each node
        for name in shippers:
            assert (await _post(s, nodes[0], f"{name}/actions/get?parent=shipper"))[0] == 200
        assert (await _post(s, nodes[1], "orders/actions/place", {"item": "pie"}))[0] == 200
        for name in shippers:

            async def got(name: str = name) -> Any:
                return (await _post(s, nodes[0], f"{name}/actions/get?parent=shipper"))[1]

            assert await eventually(got) == [{"order": 1, "item": "pie", "by": None}]

        status, page = await _get(f"https://{nodes[0].config.http}/v1/cluster/status", ctx)
        assert status == 200 and sorted(page["nodes"]) == IDS
        assert all("error" not in n for n in page["nodes"].values()), page["nodes"]


async def test_internal_routes_need_a_client_certificate_when_a_ca_is_set(
    tmp_path: Path, key: str, pki: Pki
) -> None:
    async with cluster(tmp_path, key, ["m1"], [Counter], **_mutual(pki)) as (n,):
        path = "/internal/v1/status"
        url = f"https://{n.config.http}{path}"
        signed = derive_key(SECRET, "internal-http")

        def headers() -> dict[str, str]:
            return {HEADER: sign(signed, "GET", path, b"", time.time())}

        status, body = await _get(url, _trusting(pki), headers=headers())
        assert status == 401 and "client certificate" in body["error"]["message"]
        with_cert = _trusting(pki)
        with_cert.load_cert_chain(pki.cert, pki.key)
        status, body = await _get(url, with_cert, headers=headers())
        assert (status, body["id"]) == (200, "m1")
        assert (await _get(f"https://{n.config.http}/healthz", _trusting(pki)))[0] == 200


async def test_peers_are_verified_against_the_ca_or_the_system_store(node: Node, pki: Pki) -> None:
    member = Member("tls-test", node.config.http, "", MemberStatus.ACTIVE)
    path = "/internal/v1/status"
    key = derive_key(None, "internal-http")
    for ctx in (client_context(None), client_context(str(pki.other_ca))):
        fwd = HttpForwarder(key, scheme="https", ssl=ctx)
        try:
            with pytest.raises(Unreachable, match="certificate verify failed"):
                await fwd.get_json(member, path, 5.0)
        finally:
            await fwd.close()
    fwd = HttpForwarder(key, scheme="https", ssl=client_context(str(pki.ca)))
    try:
        assert (await fwd.get_json(member, path, 5.0))["id"] == "tls-test"
    finally:
        await fwd.close()


async def test_a_remote_cluster_over_https_is_verified_with_the_ca(node: Node, pki: Pki) -> None:
    urls = {SYS: f"https://{node.config.http}"}
    call: dict[str, Any] = {"parent": None, "metadata": None, "timeout": 5.0}
    trusting = HttpRemoteSystems(urls, ssl=remote_context(str(pki.ca)))
    default = HttpRemoteSystems(urls)  # the system store only
    try:
        assert await trusting.invoke(SYS, "incrementor", "add", {"value": 4}, **call) == {
            "total": 4
        }
        with pytest.raises(Unavailable, match="certificate verify failed"):
            await default.invoke(SYS, "incrementor", "add", {"value": 4}, **call)
    finally:
        await trusting.close()
        await default.close()


# --- configuration --------------------------------------------------------------------------


def test_tls_settings_come_from_flags_and_environment() -> None:
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    env = {"ROOST_TLS_CERT": "/tls/tls.crt", "ROOST_TLS_KEY": "/tls/tls.key"}
    cfg = from_args(p.parse_args(["--tls-ca", "/tls/ca.crt"]), env)
    assert (cfg.tls_cert, cfg.tls_key) == ("/tls/tls.crt", "/tls/tls.key")
    assert cfg.tls_ca == "/tls/ca.crt"
    with pytest.raises(ConfigError, match="--tls-key / ROOST_TLS_KEY is not set"):
        from_args(p.parse_args(["--tls-cert", "/tls/tls.crt"]), {})
    with pytest.raises(ConfigError, match="--tls-cert / ROOST_TLS_CERT is not set"):
        from_args(p.parse_args([]), {"ROOST_TLS_KEY": "/tls/tls.key"})


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"tls_cert": "missing.crt"}, r"--tls-cert / ROOST_TLS_CERT .*missing\.crt: No such file"),
        ({"tls_key": "missing.key"}, r"--tls-key / ROOST_TLS_KEY .*missing\.key: No such file"),
        ({"tls_key": "other.key"}, r"--tls-cert .*tls\.crt / --tls-key .*other\.key do not load"),
        ({"tls_cert": "garbage.pem"}, r"garbage\.pem / --tls-key .* do not load: .*PEM"),
        ({"tls_ca": "missing-ca.crt"}, r"--tls-ca / ROOST_TLS_CA .*missing-ca\.crt: No such file"),
        ({"tls_ca": "garbage.pem"}, r"--tls-ca / ROOST_TLS_CA .*garbage\.pem"),
    ],
)
def test_bad_tls_files_stop_the_node_at_start(
    tmp_path: Path, key: str, pki: Pki, files: dict[str, str], message: str
) -> None:
    (tmp_path / "garbage.pem").write_text("not a certificate\n")
    pki.issue(tmp_path / "other.crt", tmp_path / "other.key")  # a key of another certificate
    tls = {"tls_cert": str(pki.cert), "tls_key": str(pki.key), "tls_ca": str(pki.ca)}
    tls.update({k: str(tmp_path / v) for k, v in files.items()})
    with pytest.raises(ConfigError, match=message):
        Node(_config(tmp_path, key, **tls), actor_classes=[Counter])
