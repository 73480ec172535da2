"""Step options, structured output, named OpenAI-compatible providers and secrets files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.providers.config import ProviderSettings, load_worker_config, read_secret
from tests.fakes.vendors import Answer, FakeVendor, openai_chat
from tests.helpers.providers import CHAT
from tests.helpers.runs import run_to_end, start_run


def llm(**fields: Any) -> dict[str, Any]:
    step = {
        "id": "ask",
        "type": "llm",
        "provider": "local-llm",
        "model": "qwen2.5",
        "prompt": "Give me JSON",
        "retry": {"max_attempts": 3, "initial_interval": "100ms"},
        **fields,
    }
    return {"name": "opts", "steps": [step]}


def local_config(fake: FakeVendor, tmp_path: Path) -> Any:
    """A named OpenAI-compatible provider (as for Ollama/vLLM), keyed through a secrets file."""
    secrets = tmp_path / "secrets.env"
    secrets.write_text("export LOCAL_LLM_KEY='from-the-secrets-file'\n")
    config = load_worker_config(env={})
    providers = {
        **config.providers,
        "local-llm": ProviderSettings(
            base_url=f"{fake.url}/v1", api_key_env="LOCAL_LLM_KEY", http2=False
        ),
    }
    return config.model_copy(update={"providers": providers, "secrets_file": secrets})


@pytest.mark.asyncio(loop_scope="session")
async def test_named_provider_options_and_secrets_file(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor, tmp_path: Path
) -> None:
    definition = llm(
        system="Be terse.",
        messages=[
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
        ],
        temperature=0.2,
        max_tokens=64,
        top_p=0.9,
        stop=["END"],
        extra={"seed": 7},
    )
    async with worker_for(config=local_config(fake, tmp_path)):
        result = await run_to_end(client, task_queue, {"definition": definition})
    assert result.steps["ask"].output == "positive"
    (request,) = fake.requests(CHAT)
    assert request.headers["authorization"] == "Bearer from-the-secrets-file"
    assert request.body == {
        "model": "qwen2.5",
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "user", "content": "Give me JSON"},
        ],
        "temperature": 0.2,
        "max_tokens": 64,
        "top_p": 0.9,
        "stop": ["END"],
        "seed": 7,
    }


@pytest.mark.asyncio(loop_scope="session")
async def test_invalid_json_reply_is_repaired_then_parsed(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor, tmp_path: Path
) -> None:
    fake.then(CHAT, Answer(body=openai_chat("Sure! {not json")))
    fake.then(CHAT, Answer(body=openai_chat('```json\n{"label": "safe", "score": 0.9}\n```')))
    async with worker_for(config=local_config(fake, tmp_path)):
        result = await run_to_end(client, task_queue, {"definition": llm(response_format="json")})
    record = result.steps["ask"]
    assert record.output == {"label": "safe", "score": 0.9}
    assert (record.attempts, record.repairs) == (1, 1)  # a repair turn, not a retry
    requests = fake.requests(CHAT)
    assert len(requests) == 2
    assert requests[0].body["response_format"] == {"type": "json_object"}
    *_, bad, repair = requests[1].body["messages"]
    assert bad == {"role": "assistant", "content": "Sure! {not json"}
    assert "not valid JSON: Expecting value at line 1 column 1" in repair["content"]


@pytest.mark.asyncio(loop_scope="session")
async def test_json_schema_output_is_validated(
    client: Client, task_queue: str, worker_for: Any, fake: FakeVendor, tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["safe", "review", "block"]}},
        "required": ["label"],
    }
    for _ in range(2):
        fake.then(CHAT, Answer(body=openai_chat('{"label": "maybe"}')))
    definition = llm(
        response_format={"name": "moderation", "schema": schema},
        retry={"max_attempts": 2, "initial_interval": "100ms"},
        repair_attempts=1,
    )
    async with worker_for(config=local_config(fake, tmp_path)):
        handle = await start_run(client, task_queue, {"definition": definition})
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), timeout=60)
    assert isinstance(info.value.cause, ApplicationError)
    message = info.value.cause.message
    assert "`$.label`: 'maybe' is not one of ['safe', 'review', 'block']" in message
    assert "InvalidModelOutput" in message
    requests = fake.requests(CHAT)
    assert len(requests) == 2  # one repair turn, then no retry: the output is final
    assert requests[0].body["response_format"]["json_schema"]["schema"] == schema


def test_read_secret_prefers_the_environment_then_the_file(tmp_path: Path) -> None:
    file = tmp_path / "keys.env"
    file.write_text("OPENAI_API_KEY=from-file\n# comment\nOTHER = spaced \n")
    config = load_worker_config(env={}).model_copy(update={"secrets_file": file})
    assert read_secret("OPENAI_API_KEY", config, env={}) == "from-file"
    assert read_secret("OPENAI_API_KEY", config, env={"OPENAI_API_KEY": "env"}) == "env"
    assert read_secret("OTHER", config, env={}) == "spaced"
    assert read_secret("MISSING", config, env={}) is None
    directory = tmp_path / "run-secrets"
    directory.mkdir()
    (directory / "ANTHROPIC_API_KEY").write_text("from-dir\n")
    by_dir = config.model_copy(update={"secrets_file": directory})
    assert read_secret("ANTHROPIC_API_KEY", by_dir, env={}) == "from-dir"


def test_worker_config_file_adds_providers_and_prices(tmp_path: Path) -> None:
    file = tmp_path / "worker.yaml"
    file.write_text(
        """
providers:
  ollama:
    base_url: http://10.0.0.5:11434/v1
    requests_per_minute: 30
  azure:
    kind: openai
    base_url: https://example.openai.azure.com/openai/deployments/gpt4o
    api_key_env: AZURE_OPENAI_API_KEY
    key_header: api-key
    query: {api-version: "2024-10-21"}
prices:
  qwen2.5: {input_per_mtok: 0.0, output_per_mtok: 0.0}
  gpt-4o-mini: {input_per_mtok: 0.2, output_per_mtok: 0.8}
"""
    )
    config = load_worker_config(file, env={"OPENAI_BASE_URL": "http://proxy/v1"})
    assert config.providers["ollama"].base_url == "http://10.0.0.5:11434/v1"
    assert config.providers["ollama"].requests_per_minute == 30
    assert config.providers["azure"].query == {"api-version": "2024-10-21"}
    assert config.providers["openai"].base_url == "http://proxy/v1"
    price = config.price("gpt-4o-mini-2024-07-18")
    assert price is not None and price.input_per_mtok == 0.2
    assert config.price("unknown-model") is None


def test_a_broken_worker_config_is_a_clear_error(tmp_path: Path) -> None:
    from interpreter.errors import OrchestratorError

    file = tmp_path / "worker.yaml"
    file.write_text("providers:\n  ollama:\n    requests_per_minute: -1\n")
    with pytest.raises(OrchestratorError, match=r"providers\.ollama\.requests_per_minute"):
        load_worker_config(file, env={})
