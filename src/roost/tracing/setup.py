"""`Tracing`: a node's tracer provider, built from the standard `OTEL_*` variables or
`--otlp-endpoint`, or `OFF`.

Tracing is on when an OTLP endpoint is given (`--otlp-endpoint`, `OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) or `OTEL_TRACES_EXPORTER` names an exporter (`otlp`,
`console`); `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turns it off whatever else is
set. Spans leave through a `BatchSpanProcessor` (its own thread, a bounded queue that drops when
full), so an export never blocks a turn. The sampler is `OTEL_TRACES_SAMPLER` (default
`parentbased_always_on`: a caller's sampling decision is honoured end to end).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from roost.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Tracer

    from roost.node.core import Core
    from roost.placement.router import Forwarder
    from roost.statestore.base import StateStore
    from roost.tracing.server import Response, ServerSpan

    R = TypeVar("R", bound=Response)

log = logging.getLogger("roost.tracing")

DEFAULT_SERVICE = "roost"
EXPORTERS = ("otlp", "console")


class Tracing:
    """A node's tracer, or the off switch. `on` is the one attribute a hot path reads; when it is
    False nothing else here is touched and no OpenTelemetry module is imported."""

    __slots__ = ("node_id", "on", "provider", "tracer")

    def __init__(self, provider: TracerProvider | None = None, node_id: str = "") -> None:
        self.provider = provider
        self.node_id = node_id
        self.on = provider is not None
        self.tracer: Tracer | None = (
            None if provider is None else provider.get_tracer("roost", _version())
        )

    @classmethod
    def with_exporter(
        cls, node_id: str, exporter: SpanExporter, *, sampler: Sampler | None = None,
        batch: bool = True, service: str = DEFAULT_SERVICE,
    ) -> Tracing:  # fmt: skip
        """A provider exporting to `exporter` (tests use an in-memory one, unbatched)."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(
            resource=_resource(node_id, service),
            sampler=sampler if sampler is not None else ParentBased(TraceIdRatioBased(1.0)),
        )
        proc = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(proc)
        return cls(provider, node_id)

    def store(self, store: StateStore) -> StateStore:
        """The statestore with a span per operation made inside a traced call (itself when off)."""
        if not self.on:
            return store
        from roost.tracing.store import TracedStore

        return TracedStore(store, self)

    def forwarder(self, forwarder: Forwarder) -> Forwarder:
        """`forwarder` with a span per forward that writes the trace context into the call's
        metadata (itself when off). `instrument` does this for the forwarder `Core` was given;
        a forwarder set on the router later needs it too."""
        if not self.on:
            return forwarder
        from roost.tracing.instrument import TracedForwarder

        assert self.tracer is not None
        return TracedForwarder(forwarder, self.tracer)

    def instrument(self, core: Core) -> None:
        """Spans on routing, forwards, turns, workflows and the scheduler of `core` (no-op off)."""
        if self.on:
            from roost.tracing.instrument import instrument

            instrument(core, self)

    async def serve(
        self,
        headers: Mapping[str, str],
        method: str,
        route: str,
        path: str,
        handler: Callable[[], Awaitable[R]],
    ) -> R:
        """Run an API request's `handler` in a server span (continuing the caller's
        `traceparent` header) and return its response with our `traceparent` header added."""
        from roost.tracing.server import serve

        assert self.tracer is not None
        return await serve(self.tracer, headers, method, route, path, handler)

    def server_span(
        self, headers: Mapping[str, str], method: str, route: str, path: str
    ) -> AbstractContextManager[ServerSpan]:
        """The same for any HTTP server: ``with tracing.server_span(...) as ss:`` around the
        handler, then put ``ss.done(status)`` in the response's `traceparent` header."""
        from roost.tracing.server import server_span

        assert self.tracer is not None
        return server_span(self.tracer, headers, method, route, path)

    def shutdown(self) -> None:
        """Export what is queued and stop (at node shutdown). Idempotent."""
        if self.provider is not None:
            self.provider.shutdown()


OFF = Tracing()  # immutable: the shared "tracing is off"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("roost")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _resource(node_id: str, service: str) -> Any:
    from opentelemetry.sdk.resources import Resource

    # Resource.create merges OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME; what we pass wins,
    # so the service name is given only as the default
    attrs: dict[str, str] = {"service.instance.id": node_id}
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attrs["service.name"] = service
    return Resource.create(attrs)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def is_configured(endpoint: str | None, env: Mapping[str, str]) -> bool:
    """Whether the flag or the standard variables ask for traces (see the module doc)."""
    if _truthy(env.get("OTEL_SDK_DISABLED")):
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(
        endpoint
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or exporter
    )


def traces_url(endpoint: str | None, env: Mapping[str, str]) -> str:
    """Where spans are POSTed: the flag or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, `/v1/traces`
    appended as the OTLP spec says), or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as-is)."""
    if endpoint:
        return _signal_url(endpoint)
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if url:
        return url
    return _signal_url(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318")


def _signal_url(base: str) -> str:
    if "://" not in base:
        raise ConfigError(f"OTLP endpoint {base!r} is not a URL (e.g. http://collector:4318)")
    return base.rstrip("/") + "/v1/traces"


def sampler_from(env: Mapping[str, str]) -> Sampler:
    """`OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` as the OpenTelemetry spec names them;
    an unknown name is a `ConfigError`, not a silent default."""
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        TraceIdRatioBased,
    )

    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").strip().lower()
    raw = env.get("OTEL_TRACES_SAMPLER_ARG")
    ratio = 1.0
    if "traceidratio" in name and raw:
        try:
            ratio = float(raw)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG={raw!r}: a ratio between 0 and 1")
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    sampler = samplers.get(name)
    if sampler is None:
        raise ConfigError(f"OTEL_TRACES_SAMPLER={name!r} is not one of {sorted(samplers)}")
    return sampler


def from_config(
    node_id: str,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    install_global: bool = True,
) -> Tracing:
    """The node's tracing from `--otlp-endpoint` and the `OTEL_*` variables; `OFF` when neither
    asks for it. Also installs the provider as OpenTelemetry's global one (if none is yet), so
    spans an actor's own code starts join the call's trace."""
    env = os.environ if env is None else env
    if not is_configured(endpoint, env):
        return OFF
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise ConfigError(
            "tracing is configured but OpenTelemetry is not installed: pip install 'roost[tracing]'"
        ) from exc
    kind = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() or "otlp"
    if kind not in EXPORTERS:
        raise ConfigError(f"OTEL_TRACES_EXPORTER={kind!r}: Roost supports {EXPORTERS} or none")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if kind == "otlp" and protocol != "http/protobuf":
        raise ConfigError(f"OTLP protocol {protocol!r}: Roost exports over http/protobuf only")
    exporter: SpanExporter
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # headers, timeout, compression and certificates come from OTEL_EXPORTER_OTLP_* as usual
        exporter = OTLPSpanExporter(endpoint=traces_url(endpoint, env))
    else:
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        exporter = ConsoleSpanExporter()
    tracing = Tracing.with_exporter(node_id, exporter, sampler=sampler_from(env))
    if install_global and type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider":
        trace.set_tracer_provider(tracing.provider)  # type: ignore[arg-type]
    log.info(
        "tracing on: %s exporter%s", kind,
        f" to {traces_url(endpoint, env)}" if kind == "otlp" else "",
    )  # fmt: skip
    return tracing
