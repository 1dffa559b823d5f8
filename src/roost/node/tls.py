"""TLS for the HTTP API and node-to-node calls: the SSL contexts built from `--tls-cert`,
`--tls-key` and `--tls-ca`, and their reload when the files change on disk.

Every node of one cluster runs with the same setting: with a certificate, the API serves HTTPS
only and peers call each other over `https://<member.http>`, verifying the peer against
`--tls-ca` (the system store without one). With `--tls-ca` the node also asks callers for a
certificate and `/internal/` routes require one signed by that CA (mutual TLS), on top of the
cluster secret's signature, which still authenticates every internal call.

cert-manager (and kubelet's Secret volumes) replace the files in place when a certificate is
renewed; `NodeTls.watch` loads the new pair into the same contexts, so connections opened
afterwards use it without a restart.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import ssl

from roost.errors import ConfigError

log = logging.getLogger("roost.tls")

MIN_VERSION = ssl.TLSVersion.TLSv1_2  # TLS 1.0 and 1.1 are deprecated (RFC 8996)
RELOAD_EVERY = 30.0  # s between checks of the files; renewals come days before expiry


def _fail(what: str, path: str, exc: Exception) -> ConfigError:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ConfigError(f"{what} {path}: {detail}")


def _readable(what: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _fail(what, path, exc) from exc


def _load_pair(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    _readable("--tls-cert / ROOST_TLS_CERT", cert)  # OpenSSL's own error names neither file
    _readable("--tls-key / ROOST_TLS_KEY", key)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        hint = " (expected a PEM certificate chain and an unencrypted PEM key)"
        raise ConfigError(
            f"--tls-cert {cert} / --tls-key {key} do not load: {exc}"
            + (hint if "PEM" in str(exc) else "")
        ) from exc


def _load_ca(ctx: ssl.SSLContext, ca: str) -> None:
    try:
        ctx.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        raise _fail("--tls-ca / ROOST_TLS_CA", ca, exc) from exc


def server_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    """The API listener's context. With `ca`, clients may present a certificate (verified
    against it); public routes do not need one, `/internal/` ones do (`roost.node.server`
    checks)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = MIN_VERSION
    _load_pair(ctx, cert, key)
    if ca is not None:
        _load_ca(ctx, ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def peer_context(cert: str, key: str, ca: str | None) -> ssl.SSLContext:
    """What a node dials its peers with: verifies them against `ca` (else the system store)
    and, with `ca`, presents its own certificate for mutual TLS."""
    ctx = client_context(ca)
    if ca is not None:
        _load_pair(ctx, cert, key)
    return ctx


def client_context(ca: str | None) -> ssl.SSLContext:
    """Verifies servers against `ca`, or against the system store when `ca` is None."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = MIN_VERSION
    if ca is not None:
        _load_ca(ctx, ca)
    return ctx


def remote_context(ca: str | None) -> ssl.SSLContext | bool:
    """For other Roost clusters (`--remote-system`): the system store, plus `ca` when given
    (a remote cluster may have a public certificate or one from the same private CA)."""
    if ca is None:
        return True  # aiohttp's default: verified against the system store
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = MIN_VERSION
    _load_ca(ctx, ca)
    return ctx


class NodeTls:
    """One node's server and peer contexts, built at start (bad files are a `ConfigError`
    then, not at the first request) and reloaded in place when the files change."""

    def __init__(self, cert: str, key: str, ca: str | None) -> None:
        self.cert, self.key, self.ca = cert, key, ca
        self.server = server_context(cert, key, ca)
        self.peer = peer_context(cert, key, ca)
        self._digest = self._files_digest()
        _log_expiry(cert)

    @property
    def mutual(self) -> bool:
        """Whether `/internal/` routes require a client certificate signed by `--tls-ca`."""
        return self.ca is not None

    def _files_digest(self) -> bytes:
        h = hashlib.sha256()
        for path in (self.cert, self.key):
            try:
                with open(path, "rb") as f:
                    h.update(f.read())
            except OSError:
                h.update(b"\0missing")
            h.update(b"\0")
        return h.digest()

    def reload(self) -> bool:
        """Load the certificate and key again if their files changed; True when it did. A
        pair that does not load (say, the key is not written yet) keeps the old one in use."""
        digest = self._files_digest()
        if digest == self._digest:
            return False
        try:
            _load_pair(self.server, self.cert, self.key)
            if self.mutual:
                _load_pair(self.peer, self.cert, self.key)
        except ConfigError as exc:
            log.warning("TLS certificate changed but does not load, keeping the old one: %s", exc)
            return False
        self._digest = digest
        log.info("TLS certificate reloaded from %s", self.cert)
        _log_expiry(self.cert)
        return True

    async def watch(self, every: float = RELOAD_EVERY) -> None:
        while True:
            await asyncio.sleep(every)
            self.reload()


def _log_expiry(cert: str) -> None:
    from cryptography import x509

    try:
        with open(cert, "rb") as f:
            leaf = x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError):
        return  # it loaded into OpenSSL: a format this check does not read is no reason to stop
    until = leaf.not_valid_after_utc
    if until <= datetime.datetime.now(datetime.UTC):
        log.warning("TLS certificate %s expired at %s", cert, until.isoformat())
    else:
        log.info("TLS certificate %s is valid until %s", cert, until.isoformat())
