"""Structured logs: the run's ids on every record of a step, and no secret ever written."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from llmock.pytest_plugin import LLMock
from temporalio.client import Client

from activities import redaction
from activities.redaction import redact
from llm_orchestrator.logs import JsonFormatter, RedactSecrets, TextFormatter
from tests.conftest import EXAMPLES
from tests.helpers.providers import ANTHROPIC_KEY, OPENAI_KEY
from tests.helpers.runs import start_run
from tests.observability.conftest import clean_env, cli_worker

BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.Zm9vYmFy"
OTHER_SECRET = "correct-horse-battery-staple"


def _record(msg: str, *args: Any, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("t", logging.WARNING, __file__, 1, msg, args, exc_info)


def _emit(record: logging.LogRecord, env: dict[str, str], formatter: logging.Formatter) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets(env))
    handler.setFormatter(formatter)
    handler.handle(record)
    return stream.getvalue()


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-Abc123Def456Ghi789Jkl",
        "sk-ant-api03-Zz9_yY8-xX7wW6vV5",
        "sk-0123456789abcdefABCDEF",
    ],
)
def test_key_shaped_strings_are_masked(secret: str) -> None:
    assert redact(f"calling with {secret}!") == "calling with ***!"


def test_bearer_tokens_and_env_keys_are_masked_in_messages_args_and_tracebacks() -> None:
    env = {"MY_VENDOR_API_KEY": OTHER_SECRET, "HOME": "/home/someone"}
    try:
        raise RuntimeError(f"vendor said: bad key {OTHER_SECRET}")
    except RuntimeError as exc:
        error = exc
    for formatter in (TextFormatter(), JsonFormatter()):
        record = _record(
            "headers %s, key %s", {"Authorization": f"Bearer {BEARER}"}, OTHER_SECRET, exc=error
        )
        out = _emit(record, env, formatter)
        assert OTHER_SECRET not in out
        assert BEARER not in out
        assert "Bearer ***" in out and "key ***" in out
        assert "RuntimeError: vendor said: bad key ***" in out  # the traceback stays, masked


def test_short_or_non_secret_values_are_left_alone() -> None:
    env = {"EMPTY_API_KEY": "", "SHORT_TOKEN": "abc", "PATH": "/usr/bin"}
    out = _emit(_record("path /usr/bin abc sk-short"), env, TextFormatter())
    assert "path /usr/bin abc sk-short" in out


def test_keys_read_from_secret_files_are_masked_too() -> None:
    value = "file-held-secret-" + uuid.uuid4().hex
    redaction.remember_secret(value)
    assert _emit(_record("oops %s", value), {}, JsonFormatter()).count("***") == 1


# --- a real worker process, a real run ---------------------------------------------------


@pytest.mark.asyncio(loop_scope="session")
async def test_json_logs_of_a_run_carry_the_ids_and_no_key(
    client: Client, llmock: LLMock, tmp_path: Path
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "providers": {
                    "openai": {"base_url": llmock.base_url("openai"), "http2": False},
                    "anthropic": {"base_url": llmock.base_url("anthropic"), "http2": False},
                }
            }
        )
    )
    # a vendor that echoes the key in its error, as real ones do
    llmock.fail(401, message=f"bad key {ANTHROPIC_KEY}", provider="anthropic")
    definition = {
        "name": "logged",
        "steps": [
            {"id": "ask", "type": "llm", "provider": "openai", "model": "gpt-4o-mini",
             "prompt": "{{ inputs.text }}"},
            {"id": "denied", "type": "llm", "provider": "anthropic",
             "model": "claude-3-5-haiku-latest", "prompt": "hi", "continue_on_error": True},
            {"id": "note", "type": "action", "action": "log", "depends_on": ["ask", "denied"],
             "trigger_rule": "all_done", "params": {"message": "user said: {{ inputs.text }}"}},
        ],
    }  # fmt: skip
    text = f"my key is {OPENAI_KEY}, Authorization: Bearer {BEARER}, password {OTHER_SECRET}"
    task_queue = f"logs-{uuid.uuid4().hex[:8]}"
    env = clean_env(
        tmp_path,
        OPENAI_API_KEY=OPENAI_KEY,
        ANTHROPIC_API_KEY=ANTHROPIC_KEY,
        SOME_SERVICE_API_KEY=OTHER_SECRET,
    )
    args = [
        "--address", client.service_client.config.target_host,
        "--task-queue", task_queue,
        "--catalog", str(EXAMPLES),
        "--config", str(config),
        "--log-format", "json",
        "--log-level", "DEBUG",
    ]  # fmt: skip
    log = tmp_path / "worker.log"
    with cli_worker(args, env, log):
        handle = await start_run(
            client, task_queue, {"definition": definition, "inputs": {"text": text}}
        )
        result = await asyncio.wait_for(handle.result(), timeout=60)
    assert result.steps["denied"].status == "failed"
    assert result.steps["note"].status == "completed"

    written = log.read_text()
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, BEARER, OTHER_SECRET):
        assert secret not in written
    lines = [line for line in written.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), written
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)

    ids = {"workflow_id": handle.id, "run_id": handle.result_run_id}
    # a `log` action writes from the workflow, once
    (note,) = [
        r for r in records if r["logger"] == "temporalio.workflow" and "user said" in r["message"]
    ]
    assert note.items() >= {**ids, "step_id": "note", "step_type": "action"}.items()
    assert "my key is ***" in note["message"] and "Bearer ***" in note["message"]

    # records of libraries running inside a step carry the step too (httpx's request lines)
    requests = [r for r in records if r["logger"] == "httpx" and "POST" in r["message"]]
    assert {r.get("step_id") for r in requests} == {"ask", "denied"}
    assert all(r.items() >= ids.items() for r in requests)

    # the failed step's report names the step and keeps the vendor's message, masked
    failures = [r for r in records if r.get("step_id") == "denied" and r["level"] == "WARNING"]
    assert failures and all(r.items() >= ids.items() for r in failures)
    assert any("bad key ***" in json.dumps(r) for r in failures)
