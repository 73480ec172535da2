"""docker-compose.yml, checked without a Docker engine: services, wiring, ports, images."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llm_orchestrator.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS_CONFIG: dict[str, Any] = yaml.safe_load(
    (ROOT / "deploy/prometheus/prometheus.yml").read_text()
)


def env(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {k: str(v) for k, v in raw.items()}


def depends(service: str) -> dict[str, Any]:
    raw = SERVICES[service].get("depends_on") or {}
    return {name: {} for name in raw} if isinstance(raw, list) else dict(raw)


def published(service: str) -> list[str]:
    return [str(p) for p in SERVICES[service].get("ports") or []]


def worker_args() -> Any:
    """The worker's command, parsed by the real CLI parser."""
    return build_parser().parse_args(SERVICES["worker"]["command"])


def metrics_port() -> int:
    bind = worker_args().metrics_bind
    assert bind, "the compose worker must serve metrics (--metrics-bind)"
    return int(bind.rsplit(":", 1)[1])


def test_the_stack_has_every_part() -> None:
    assert {"postgresql", "temporal", "temporal-ui", "worker", "prometheus", "jaeger"} <= set(
        SERVICES
    )
    for name in SERVICES:
        for dependency in depends(name):
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"


def test_temporal_runs_auto_setup_on_postgresql() -> None:
    temporal = SERVICES["temporal"]
    assert temporal["image"].startswith("temporalio/auto-setup:")
    variables = env("temporal")
    assert variables["DB"] in ("postgres12", "postgresql")
    assert variables["POSTGRES_SEEDS"] == "postgresql"
    assert depends("temporal")["postgresql"].get("condition") == "service_healthy"
    assert "healthcheck" in temporal and "healthcheck" in SERVICES["postgresql"]
    assert env("temporal-ui")["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_the_worker_connects_to_the_temporal_service_and_waits_for_it() -> None:
    worker = SERVICES["worker"]
    assert worker.get("build") in (".", {"context": "."}) and (ROOT / "Dockerfile").is_file()
    address = env("worker")["TEMPORAL_ADDRESS"]
    assert address.split(":")[0] == "temporal"
    # the address Temporal's own health check answers on (its frontend port)
    health = SERVICES["temporal"]["healthcheck"]["test"]
    assert health[health.index("--address") + 1] == address
    assert depends("worker")["temporal"].get("condition") == "service_healthy"
    args = worker_args()
    assert args.func.__name__ == "_cmd_worker"
    assert args.log_format == "json"


def test_workers_can_be_scaled() -> None:
    worker = SERVICES["worker"]
    # a fixed name or a published host port would make `--scale worker=3` fail
    assert "container_name" not in worker
    assert not published("worker")
    assert str(metrics_port()) in [str(p) for p in worker.get("expose", [])]
    assert worker["command"][worker["command"].index("--metrics-bind") + 1].startswith("0.0.0.0:")


def test_prometheus_discovers_every_worker_replica_on_the_metrics_port() -> None:
    mounts = [str(v) for v in SERVICES["prometheus"]["volumes"]]
    assert any(
        m.split(":")[0] == "./deploy/prometheus/prometheus.yml"
        and m.split(":")[1] == "/etc/prometheus/prometheus.yml"
        for m in mounts
    )
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]
    (job,) = [
        j for j in PROMETHEUS_CONFIG["scrape_configs"] if j["job_name"] == "llm-orchestrator-worker"
    ]
    assert "static_configs" not in job  # static targets would miss scaled replicas
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["type"] == "A"
    assert sd["port"] == metrics_port()
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_traces_go_to_jaeger_over_otlp() -> None:
    variables = env("worker")
    endpoint = urlsplit(variables["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.hostname == "jaeger"
    protocol = variables.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    assert endpoint.port == (4318 if protocol == "http/protobuf" else 4317)
    assert str(endpoint.port) in [str(p) for p in SERVICES["jaeger"].get("expose", [])]
    assert SERVICES["jaeger"]["image"].startswith("jaegertracing/all-in-one:")
    assert env("jaeger").get("COLLECTOR_OTLP_ENABLED") == "true"


def test_ports_are_published_only_for_uis_and_temporal_and_only_on_loopback() -> None:
    publishing = {name for name in SERVICES if published(name)}
    assert publishing == {"temporal", "temporal-ui", "prometheus", "grafana", "jaeger"}
    for name in publishing:
        for port in published(name):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert published("jaeger") == ["127.0.0.1:16686:16686"]  # the UI, not the OTLP intake


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_images_are_pinned(name: str) -> None:
    service = SERVICES[name]
    if "build" in service:
        return  # built here from the Dockerfile
    image = service["image"]
    assert ":" in image, f"{name}: {image} has no tag"
    tag = image.rsplit(":", 1)[1]
    assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"


def test_keys_come_from_the_env_file_and_every_variable_is_documented() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "sk-" not in text
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        assert env("worker")[key].startswith(f"${{{key}")
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^OPENAI_API_KEY=$", example, re.M)
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
