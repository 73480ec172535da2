"""Which Temporal server a command reaches: one envconfig resolution for "where" and for
"is one configured", the Temporal CLI's flags over it, and clear setup errors (exit 3)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from llm_orchestrator.connect import server_configured
from llm_orchestrator.options import ConnectionOptions
from tests.llm_orchestrator.test_run_management import SENTIMENT, _cli


def _queue() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_a_chosen_profile_counts_as_configured_even_without_an_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "t.toml"
    config.write_text("[profile.prod]\n", encoding="utf-8")
    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    assert not server_configured(ConnectionOptions())
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    assert server_configured(ConnectionOptions())
    monkeypatch.delenv("TEMPORAL_PROFILE")
    assert server_configured(ConnectionOptions(profile="prod"))
    config.write_text('[profile.default]\naddress = "temporal.example:7233"\n', encoding="utf-8")
    assert server_configured(ConnectionOptions())


def test_run_and_status_follow_the_profile_env_var_and_the_flags(
    tmp_path: Path, client: Client
) -> None:
    address = client.service_client.config.target_host
    config = tmp_path / "temporal.toml"
    config.write_text(f'[profile.prod]\naddress = "{address}"\nnamespace = "default"\n',
                      encoding="utf-8")  # fmt: skip
    run_id = f"profiled-{uuid.uuid4().hex[:8]}"
    by_env = _cli(tmp_path, "run", SENTIMENT, "-i", "text=hi", "--offline", "--json",
                  "--id", run_id, "--task-queue", _queue(),
                  TEMPORAL_CONFIG_FILE=str(config), TEMPORAL_PROFILE="prod")  # fmt: skip
    assert by_env.returncode == 0, by_env.stderr
    assert "embedded" not in by_env.stderr
    assert json.loads(by_env.stdout)["outputs"]["sentiment"] == "positive"
    by_flags = _cli(tmp_path, "status", run_id, "--json", "--profile", "prod",
                    "--config-file", str(config), "--namespace", "default")  # fmt: skip
    assert by_flags.returncode == 0, by_flags.stderr
    assert json.loads(by_flags.stdout)["state"] == "completed"


@pytest.mark.parametrize(
    "command", [["run", SENTIMENT, "-i", "text=hi", "--offline"], ["worker"], ["list"]]
)
def test_an_unknown_profile_is_one_clear_line_and_exit_3(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "t.toml"
    config.write_text("[profile.prod]\n[profile.staging]\n", encoding="utf-8")
    result = _cli(tmp_path, *command, TEMPORAL_CONFIG_FILE=str(config), TEMPORAL_PROFILE="prdo")
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == (
        f"error: Temporal profile `prdo` not found in {config} (profiles there: prod, staging); "
        "pass --profile NAME or set TEMPORAL_PROFILE to one of them, or --config-file FILE"
    )


@pytest.mark.parametrize(
    "command",
    [["run", SENTIMENT, "-i", "text=hi", "--offline"], ["worker", "--connect-timeout", "0"]],
)
def test_a_missing_namespace_is_one_clear_line_and_exit_3(
    tmp_path: Path, client: Client, command: list[str]
) -> None:
    address = client.service_client.config.target_host
    result = _cli(tmp_path, *command, "--address", address, "--namespace", "no-such-ns",
                  "--task-queue", _queue(), timeout=60)  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == (
        f"error: Temporal at {address} has no namespace `no-such-ns`; create it (`temporal "
        "operator namespace create no-such-ns`) or pass --namespace / set TEMPORAL_NAMESPACE"
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_fresh_embedded_server_is_used_only_once_it_is_healthy(tmp_path: Path) -> None:
    import socket

    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

    from llm_orchestrator.connect import connect, wait_until_serving
    from llm_orchestrator.devserver import DevServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with DevServer(port=port, ui_port=None, db_file=tmp_path / "t.db"):
        # the port is open now; the frontend may still refuse work for a while
        fresh = await connect(f"127.0.0.1:{port}", wait=30)
        await wait_until_serving(fresh, timeout=60)
        assert await fresh.service_client.check_health()
        await fresh.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
