"""Large payloads on a real dev server: stored outside history, read back from `result`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import StorageDriverClaim, StorageDriverStoreContext
from temporalio.exceptions import ApplicationError

from activities import ActivitySettings, WorkerActivities
from interpreter.contract import WORKFLOW_TYPE
from interpreter.errors import OrchestratorError
from llm_orchestrator.payload_store import (
    STORE_ENV,
    FileStorageDriver,
    PayloadStoreSettings,
    close_store,
    data_converter,
)
from llm_orchestrator.worker import build_worker
from tests.conftest import EXAMPLES, ROOT
from tests.fakes.s3 import FakeS3, fake_s3
from tests.helpers.replay import assert_replays
from tests.helpers.runs import start_run

MB = 1024 * 1024


@activity.defn(name="blob")
async def blob(params: dict[str, Any]) -> str | list[str]:
    """A step output of ``size`` characters made of ``fill`` (distinct per step, so no
    dedup); with ``line``, as a list of strings that long.

    Lists are what later steps are given here: a template may not pass on a string
    over its output limit (``LLM_ORCHESTRATOR_TEMPLATE_MAX_OUTPUT``, 2,000,000).
    """
    fill = str(params.get("fill", "x"))
    size = int(params["size"])
    text = (fill * (size // len(fill) + 1))[:size]
    line = int(params.get("line", 0))
    return [text[i : i + line] for i in range(0, size, line)] if line else text


@activity.defn(name="digest")
async def digest(params: dict[str, Any]) -> dict[str, Any]:
    """What a step received: its length and SHA-256 (so the input made it whole)."""
    data = params["data"]
    text = "".join(data) if isinstance(data, list) else str(data)
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


async def _run(client: Client, task_queue: str, doc: dict[str, Any], timeout: float) -> Any:
    handle = await start_run(client, task_queue, {"definition": doc})
    return handle, await asyncio.wait_for(handle.result(), timeout=timeout)


async def _history_bytes(handle: Any) -> int:
    history = await handle.fetch_history()
    return int(sum(event.ByteSize() for event in history.events))


@pytest.mark.asyncio(loop_scope="session")
async def test_ten_megabyte_outputs_complete_and_read_back_from_result(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    doc = yaml.safe_load(
        """
name: big
steps:
  - {id: first, type: action, action: blob, params: {size: 10485760, fill: "ab"}}
  - {id: second, type: action, action: blob, params: {size: 10485760, fill: "cd"}}
  - {id: lines, type: action, action: blob, params: {size: 10485760, fill: "ef", line: 1024}}
  - id: check
    type: action
    action: digest
    depends_on: [lines]
    params: {data: "{{ steps.lines.output }}"}
outputs:
  lines: "{{ steps.lines.output }}"
"""
    )
    async with worker_for(custom=[blob, digest]):
        handle, result = await _run(client, task_queue, doc, timeout=120)
    assert result.steps["first"].output == ("ab" * (5 * MB))[: 10 * MB]
    assert result.steps["second"].output == ("cd" * (5 * MB))[: 10 * MB]
    lines = ("ef" * (5 * MB))[: 10 * MB]
    assert "".join(result.outputs["lines"]) == lines
    # the 10 MB input of a later step arrived whole
    assert result.steps["check"].output == {
        "length": 10 * MB,
        "sha256": hashlib.sha256(lines.encode()).hexdigest(),
    }
    # history holds references, not the 60+ MB of values
    assert await _history_bytes(handle) < 256 * 1024


@pytest.mark.asyncio(loop_scope="session")
async def test_two_hundred_steps_of_100_kb_complete(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    steps = [
        {"id": f"s{i}", "type": "action", "action": "blob", "params": {"size": 100_000, "fill": f"{i}-"}}  # noqa: E501
        for i in range(200)
    ]  # fmt: skip
    doc = {"name": "wide", "steps": steps}
    async with worker_for(custom=[blob]):
        _, result = await _run(client, task_queue, doc, timeout=240)
    assert len(result.steps) == 200
    assert all(r.status == "completed" for r in result.steps.values())
    assert result.steps["s199"].output == ("199-" * 25_000)[:100_000]


@pytest.mark.asyncio(loop_scope="session")
async def test_two_hundred_steps_started_together_with_100_kb_inputs_complete(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    # one workflow task schedules all 200: their inputs (20 MB) would not fit one
    # gRPC message (4 MB) if they stayed inline; the server terminated such runs
    steps: list[dict[str, Any]] = [
        {"id": "b", "type": "action", "action": "blob", "params": {"size": 100_000}}
    ]
    steps += [
        {
            "id": f"d{i}",
            "type": "action",
            "action": "digest",
            "depends_on": ["b"],
            "params": {"data": "{{ steps.b.output }}"},
        }
        for i in range(200)
    ]
    async with worker_for(custom=[blob, digest]):
        handle, result = await _run(client, task_queue, {"name": "fan", "steps": steps}, 240)
    assert all(r.status == "completed" for r in result.steps.values())
    assert result.steps["d199"].output["length"] == 100_000
    assert await _history_bytes(handle) < 1024 * 1024


def test_a_four_megabyte_definition_runs_from_the_cli(client: Client, tmp_path: Path) -> None:
    # the start input goes to the payload store too: no raw `Blob data size exceeds limit`
    big = tmp_path / "big.json"
    doc = {
        "name": "big-definition",
        "metadata": {"notes": "n" * (4 * MB)},
        "steps": [{"id": "echo", "type": "transform", "template": "{{ 1 + 1 }}"}],
        "outputs": {"two": "{{ steps.echo.output }}"},
    }
    big.write_text(json.dumps(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TEMPORAL_CONFIG_FILE"] = str(tmp_path / "no-temporal-config.toml")
    result = subprocess.run(
        [
            sys.executable, "-m", "llm_orchestrator.cli", "run", str(big), "--quiet", "--json",
            "--address", client.service_client.config.target_host,
            "--task-queue", f"cli-{uuid.uuid4().hex[:8]}",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == {"two": 2}
    stored = list((tmp_path / "state/llm-orchestrator/payloads").rglob("*"))
    assert any(p.is_file() and p.stat().st_size > 4 * MB for p in stored)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_payload_over_the_maximum_fails_its_step_once_with_its_size(
    task_queue: str, worker_for: Any, client: Client, tmp_path: Path
) -> None:
    # a second client on the same server whose converter refuses payloads over 1 MiB
    small = PayloadStoreSettings(store=str(tmp_path / "payloads"), max_size=MB)
    limited = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=data_converter(small),
    )
    doc = yaml.safe_load(
        """
name: too-big
steps:
  - {id: huge, type: action, action: blob, params: {size: 3000000}}
"""
    )
    calls = 0

    @activity.defn(name="blob")
    async def counting_blob(params: dict[str, Any]) -> str:
        nonlocal calls
        calls += 1
        return await blob(params)

    activities = WorkerActivities(ActivitySettings(catalog_dir=EXAMPLES))
    worker = build_worker(
        limited, activities, task_queue=task_queue, custom_activities=[counting_blob]
    )
    # the run's result may exceed it: refusing it would wedge the run
    many = yaml.safe_load(
        """
name: adds-up
steps:
  - {id: a, type: action, action: blob, params: {size: 900000}}
  - {id: b, type: action, action: blob, params: {size: 900000, fill: "y"}}
"""
    )
    try:
        async with worker:
            with pytest.raises(WorkflowFailureError) as info:
                await _run(limited, task_queue, doc, timeout=60)
            _, result = await _run(limited, task_queue, many, timeout=60)
    finally:
        await activities.aclose()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    assert "huge" in cause.message
    assert "2.9 MiB" in cause.message and "1.0 MiB" in cause.message
    assert calls == 3  # the huge step once (never retried: it would not shrink), a and b
    assert len(result.steps["a"].output) + len(result.steps["b"].output) == 1_800_000


def test_threshold_and_limits_come_from_the_environment(tmp_path: Path) -> None:
    settings = PayloadStoreSettings.from_env(
        {
            "XDG_STATE_HOME": str(tmp_path),
            "LLM_ORCHESTRATOR_PAYLOAD_THRESHOLD": "64KiB",
            "LLM_ORCHESTRATOR_PAYLOAD_MAX": "100MiB",
        }
    )
    assert settings == PayloadStoreSettings(
        store=str(tmp_path / "llm-orchestrator" / "payloads"),
        threshold=64 * 1024,
        max_size=100 * MB,
    )
    with pytest.raises(OrchestratorError, match="not a size"):
        PayloadStoreSettings.from_env({"LLM_ORCHESTRATOR_PAYLOAD_THRESHOLD": "big"})
    assert data_converter(PayloadStoreSettings(store="off")).external_storage is None


@pytest.mark.asyncio
async def test_values_below_the_threshold_stay_inline_and_above_it_go_to_the_store(
    tmp_path: Path,
) -> None:
    converter = data_converter(PayloadStoreSettings(store=str(tmp_path), threshold=1000))
    small, large = "s" * 900, "L" * 1000
    encoded = await converter.encode([small, large])
    assert encoded[0].data == b'"' + small.encode() + b'"'
    assert large.encode() not in encoded[1].SerializeToString()
    assert len(list(tmp_path.rglob("*"))) == 2  # one directory, one file
    assert await converter.decode(encoded, [str, str]) == [small, large]


@pytest.mark.asyncio
async def test_the_file_store_is_content_addressed_and_reports_a_missing_payload(
    tmp_path: Path,
) -> None:
    driver = FileStorageDriver(tmp_path)
    payload = Payload(data=b"x" * 10)
    first = await driver.store(StorageDriverStoreContext(), [payload, payload])
    assert first[0] == first[1]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    files[0].unlink()
    with pytest.raises(OrchestratorError, match=r"missing.*LLM_ORCHESTRATOR_PAYLOAD_STORE"):
        await driver.retrieve(None, [first[0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a payload reference"):
        await driver.retrieve(None, [StorageDriverClaim({"sha256": "../../etc/passwd"})])  # type: ignore[arg-type]


@pytest.mark.asyncio(loop_scope="session")
async def test_runs_with_stored_payloads_replay_from_history(
    client: Client, task_queue: str
) -> None:
    # no workflow cache: every workflow task replays the history and fetches the
    # stored values again, in the sandbox's stead (storage runs outside it)
    doc = yaml.safe_load(
        """
name: replayed
steps:
  - {id: a, type: action, action: blob, params: {size: 3000000, line: 1000}}
  - {id: b, type: action, action: digest, depends_on: [a], params: {data: "{{ steps.a.output }}"}}
"""
    )
    activities = WorkerActivities(ActivitySettings(catalog_dir=EXAMPLES))
    worker = build_worker(
        client,
        activities,
        task_queue=task_queue,
        max_cached_workflows=0,
        custom_activities=[blob, digest],
    )
    try:
        async with worker:
            handle, result = await _run(client, task_queue, doc, timeout=60)
    finally:
        await activities.aclose()
    assert result.steps["b"].output["length"] == 3_000_000
    await assert_replays(await handle.fetch_history(), client.data_converter)


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeS3]:
    """An S3-compatible endpoint on loopback, configured the standard AWS way."""
    with fake_s3("payloads") as s3:
        for name, value in {
            "AWS_ENDPOINT_URL": s3.url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield s3


@pytest.mark.asyncio(loop_scope="session")
async def test_an_s3_bucket_stores_the_values_of_a_run(
    client: Client, task_queue: str, s3_env: FakeS3
) -> None:
    converter = data_converter(PayloadStoreSettings.from_env({STORE_ENV: "s3://payloads"}))
    s3_client = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=converter,
    )
    doc = yaml.safe_load(
        """
name: in-s3
steps:
  - {id: a, type: action, action: blob, params: {size: 3000000, line: 1000}}
  - {id: b, type: action, action: digest, depends_on: [a], params: {data: "{{ steps.a.output }}"}}
"""
    )
    activities = WorkerActivities(ActivitySettings(catalog_dir=EXAMPLES))
    worker = build_worker(
        s3_client, activities, task_queue=task_queue, custom_activities=[blob, digest]
    )
    try:
        async with worker:
            handle, result = await _run(s3_client, task_queue, doc, timeout=60)
    finally:
        await activities.aclose()
        await close_store(converter)
    assert "".join(result.steps["a"].output) == "x" * 3_000_000
    assert result.steps["b"].output["length"] == 3_000_000
    assert await _history_bytes(handle) < 64 * 1024
    # a's result, b's input and the run's result, under the run's own key prefix
    assert [len(v) > 3_000_000 for v in s3_env.objects.values()] == [True] * 3
    prefix = f"v0/ns/{client.namespace}/wt/{WORKFLOW_TYPE}/wi/{handle.id}/"
    assert all(key.startswith(prefix) for _, key in s3_env.objects)
    with pytest.raises(OrchestratorError, match="s3://BUCKET"):
        data_converter(PayloadStoreSettings(store="s3://payloads/prefix"))
