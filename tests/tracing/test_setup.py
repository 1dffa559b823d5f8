"""Tracing is off unless configured, and follows the standard OTEL_* variables when it is."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from roost.errors import ConfigError
from roost.tracing import OFF, from_config, is_configured
from roost.tracing.setup import sampler_from, traces_url


@pytest.mark.parametrize(
    ("endpoint", "env", "on"),
    [
        (None, {}, False),
        (None, {"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, False),
        ("http://c:4318", {}, True),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        (None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        (None, {"OTEL_TRACES_EXPORTER": "console"}, True),
        ("http://c:4318", {"OTEL_SDK_DISABLED": "true"}, False),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"},
         False),
    ],
)  # fmt: skip
def test_on_only_when_configured(endpoint: str | None, env: dict[str, str], on: bool) -> None:
    assert is_configured(endpoint, env) is on


def test_off_is_the_shared_no_op() -> None:
    tracing = from_config("n1", None, {})
    assert tracing is OFF and not tracing.on
    store = object()
    assert tracing.store(store) is store  # type: ignore[arg-type]


def test_traces_url_follows_the_otlp_spec() -> None:
    assert traces_url("http://c:4318/", {}) == "http://c:4318/v1/traces"
    assert traces_url(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == (
        "http://c:4318/v1/traces"
    )
    # the per-signal variable is the full URL, used as it is
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:9/t", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    assert traces_url(None, env) == "http://c:9/t"
    with pytest.raises(ConfigError, match="not a URL"):
        traces_url("collector:4318", {})


def test_sampler_from_the_standard_variables() -> None:
    default = sampler_from({})
    assert isinstance(default, ParentBased)
    ratio = sampler_from({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"})
    assert isinstance(ratio, TraceIdRatioBased) and ratio.rate == 0.25
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER='sometimes'"):
        sampler_from({"OTEL_TRACES_SAMPLER": "sometimes"})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        sampler_from({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"})


def test_unsupported_exporters_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="http/protobuf only"):
        from_config("n1", "http://c:4317", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    with pytest.raises(ConfigError, match="zipkin"):
        from_config("n1", None, {"OTEL_TRACES_EXPORTER": "zipkin"})


def test_console_exporter_turns_tracing_on() -> None:
    tracing = from_config("n1", None, {"OTEL_TRACES_EXPORTER": "console"}, install_global=False)
    try:
        assert tracing.on and tracing.tracer is not None
    finally:
        tracing.shutdown()


def test_off_never_imports_opentelemetry() -> None:
    """Off, a node's process does not load the SDK at all (a core install does not have it)."""
    import subprocess
    import sys

    script = (
        "import asyncio, sys, roost\n"
        "from examples.counters import Incrementor\n"
        "async def main():\n"
        "    async with roost.ActorSystem('s', actors=[Incrementor]) as system:\n"
        "        await system.invoke('incrementor', 'add', {'value': 1})\n"
        "asyncio.run(main())\n"
        "import roost.node.node\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}  # no OTEL_* from the caller's environment
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


def test_the_flag_and_its_variable_reach_the_config() -> None:
    import argparse

    from roost.node.config import add_arguments, from_args

    def parse(argv: list[str], env: dict[str, str]) -> str | None:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        return from_args(parser.parse_args(argv), env).otlp_endpoint

    assert parse([], {}) is None
    assert parse(["--otlp-endpoint", "http://c:4318"], {}) == "http://c:4318"
    assert parse([], {"ROOST_OTLP_ENDPOINT": "http://d:4318"}) == "http://d:4318"
