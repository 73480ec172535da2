"""docker-compose.yml, checked without a Docker engine: services, wiring, ports, images."""

from __future__ import annotations

import copy
import json
import re
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema.validators import validator_for

from llm_orchestrator.cli import build_parser
from tests.deploy.tools import required

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS_CONFIG: dict[str, Any] = yaml.safe_load(
    (ROOT / "deploy/prometheus/prometheus.yml").read_text()
)


def compose_spec_schema() -> dict[str, Any] | None:
    """The Compose Specification's JSON Schema, the copy check-jsonschema ships (and keeps
    current); found without importing that package, which we use for nothing else."""
    spec = find_spec("check_jsonschema")
    if spec is None or not spec.submodule_search_locations:
        return None
    (package,) = spec.submodule_search_locations
    path = Path(package) / "builtin_schemas/vendor/compose-spec.json"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


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
    assert {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-namespace",
        "temporal-ui",
        "worker",
        "prometheus",
        "jaeger",
    } <= set(SERVICES)
    for name in SERVICES:
        for dependency in depends(name):
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"


def test_the_file_is_valid_against_the_compose_specification() -> None:
    schema = required(
        "the compose-spec JSON Schema",
        compose_spec_schema(),
        "pip install check-jsonschema (it ships the schema; .ci/run installs it)",
    )
    validator = validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert not errors, "\n".join(errors)
    # and the check is a real one: a misspelt key or an unknown condition is refused
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["worker"]["depends_on"]["temporal-namespace"]["condition"] = "done"
    broken["services"]["temporal"]["restrat"] = "no"
    refused = [e for e in validator.iter_errors(broken)]
    assert any("'restrat' was unexpected" in e.message for e in refused)
    assert any(list(e.absolute_path)[:3] == ["services", "worker", "depends_on"] for e in refused)


def test_compose_v2_is_documented_as_required() -> None:
    # top-level `name:` and the one-shot jobs' conditions are Compose v2 features
    assert "name" in COMPOSE
    assert "Compose v2" in (ROOT / "docs/deploy.md").read_text()


def test_temporal_is_the_supported_server_image_with_a_schema_job_on_postgresql() -> None:
    images = {name: str(service.get("image", "")) for name, service in SERVICES.items()}
    assert not [i for i in images.values() if i.startswith("temporalio/auto-setup")]
    server_tag = images["temporal"].removeprefix("temporalio/server:")
    # the schema the tools apply must be the server's: one release for all three
    assert images["temporal-schema"] == images["temporal-namespace"]
    assert images["temporal-schema"] == f"temporalio/admin-tools:{server_tag}"
    variables = env("temporal")
    assert variables["DB"] == "postgres12"
    assert variables["POSTGRES_SEEDS"] == env("temporal-schema")["POSTGRES_SEEDS"] == "postgresql"
    assert variables["POSTGRES_USER"] == env("temporal-schema")["POSTGRES_USER"]
    assert variables["POSTGRES_PWD"] == env("temporal-schema")["SQL_PASSWORD"]
    assert env("temporal-ui")["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_the_one_shot_jobs_run_the_scripts_in_deploy_temporal() -> None:
    for job, script in (
        ("temporal-schema", "setup-schema.sh"),
        ("temporal-namespace", "create-namespace.sh"),
    ):
        service = SERVICES[job]
        assert service.get("restart", "no") == "no", f"{job} runs once"
        (mount,) = [str(v) for v in service["volumes"]]
        source, target, mode = mount.split(":")
        assert source == f"./deploy/temporal/{script}" and (ROOT / source).is_file()
        assert mode == "ro" and service["entrypoint"] == ["/bin/sh", target]
    schema_script = (ROOT / "deploy/temporal/setup-schema.sh").read_text()
    assert "SCHEMA_DIR=/etc/temporal/schema/postgresql/v12\n" in schema_script
    for database, directory in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        assert f'\nsetup {database} "$SCHEMA_DIR/{directory}/versioned"\n' in schema_script
    for step in ("create", "setup-schema -v 0.0", 'update-schema -d "$2"'):
        assert f'sql_tool --db "$1" {step}\n' in schema_script
    # the server's dynamic config file, which the server image does not ship
    (config,) = [str(v) for v in SERVICES["temporal"]["volumes"]]
    source, target, _ = config.split(":")
    path = env("temporal")["DYNAMIC_CONFIG_FILE_PATH"]
    assert f"/etc/temporal/{path}".startswith(target + "/")
    assert (ROOT / source / Path(path).name).is_file()


def test_start_up_is_ordered_so_workers_never_meet_a_missing_namespace() -> None:
    chain = [
        ("temporal-schema", "postgresql", "service_healthy"),
        ("temporal", "temporal-schema", "service_completed_successfully"),
        ("temporal-namespace", "temporal", "service_healthy"),
        ("temporal-ui", "temporal", "service_healthy"),
        ("worker", "temporal-namespace", "service_completed_successfully"),
    ]
    for service, dependency, condition in chain:
        assert depends(service)[dependency].get("condition") == condition, (service, dependency)
    for service in ("postgresql", "temporal"):
        assert "healthcheck" in SERVICES[service]


def test_the_worker_and_the_namespace_job_agree_on_address_and_namespace() -> None:
    worker = SERVICES["worker"]
    assert worker.get("build") in (".", {"context": "."}) and (ROOT / "Dockerfile").is_file()
    address = env("worker")["TEMPORAL_ADDRESS"]
    assert address == env("temporal-namespace")["TEMPORAL_ADDRESS"]
    assert address.split(":")[0] == "temporal"
    assert ["127.0.0.1:7233:" + address.split(":")[1]] == published("temporal")
    assert env("worker")["TEMPORAL_NAMESPACE"] == env("temporal-namespace")["TEMPORAL_NAMESPACE"]
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
    # Jaeger v2 (v1, `all-in-one`, reached end of life on 2025-12-31): OTLP is on by default
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", SERVICES["jaeger"]["image"])


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
