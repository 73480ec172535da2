"""Prometheus config and the Grafana dashboard: valid, and about series the worker exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from activities import telemetry
from tests.deploy.tools import executable, required

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = json.loads((ROOT / "deploy/grafana/dashboards/llm-orchestrator.json").read_text())
OURS = {
    telemetry.STEP_DURATION,
    telemetry.STEP_RETRIES,
    telemetry.CALL_DURATION,
    telemetry.TOKENS,
    telemetry.COST,
    telemetry.BREAKER_STATE,
    telemetry.RATE_LIMIT_WAIT,
}


def expressions() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def series(expr: str) -> set[str]:
    names = set(re.findall(r"\b((?:llm_orchestrator|temporal)_[a-z_]+)\b", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_prometheus_config_parses_and_scrapes_the_workers() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "llm-orchestrator-worker" in jobs


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = required(
        "promtool",
        executable("promtool"),
        "apt-get install prometheus (Debian's package ships it; .ci/run installs it)",
    )
    result = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_shows_every_series_we_export_and_only_documented_ones() -> None:
    assert DASHBOARD["uid"] == "llm-orchestrator"
    used: set[str] = set()
    for expr in expressions():
        used |= series(expr)
    assert used >= OURS, f"not on the dashboard: {sorted(OURS - used)}"
    documented = (ROOT / "docs/observability.md").read_text()
    for name in used:
        assert f"`{name}" in documented, f"{name} is not described in docs/observability.md"


def test_every_panel_has_a_data_source_and_queries_the_selected_task_queues() -> None:
    for panel in DASHBOARD["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            if series(target["expr"]):
                assert 'task_queue=~"$task_queue"' in target["expr"], panel["title"]


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    provisioning = ROOT / "deploy/grafana/provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards/llm-orchestrator.yml").read_text())[
        "providers"
    ]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = [str(v) for v in compose["services"]["grafana"]["volumes"]]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
