"""The README's retrieval story: `index examples/docs --store local`, then ask offline."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client

from activities import ActivitySettings
from llm_orchestrator.cli import main
from tests.conftest import EXAMPLES
from tests.helpers.runs import run_to_end

QUESTIONS = [
    ("Which port does the Web UI use?", "starting-runs.md"),
    ("What happens when the provider answers HTTP 429?", "retries-and-timeouts.md"),
    ("Where do I put my OpenAI API key?", "secrets-and-keys.md"),
    ("How do I join the paths of a branch again?", "branching.md"),
    ("Are changed files replaced when I index them again?", "indexing-documents.md"),
]


async def test_index_then_ask_offline_cites_the_one_right_file(
    client: Client,
    task_queue: str,
    worker_for: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vectors = tmp_path / "state-vectors"
    monkeypatch.setenv("LLM_ORCHESTRATOR_VECTORS", str(vectors))
    argv = ["index", str(EXAMPLES / "docs"), "--store", "local", "--index", "docs", "--quiet"]
    assert await asyncio.to_thread(main, argv) == 0
    doc = yaml.safe_load((EXAMPLES / "rag-pipeline.yaml").read_text())
    # no docs dir on this worker: whatever it finds was written by the `index` command
    settings = ActivitySettings(catalog_dir=EXAMPLES, vectors_dir=vectors, docs_dir=None)
    async with worker_for(settings=settings):
        for question, source in QUESTIONS:
            result = await run_to_end(
                client,
                task_queue,
                {"definition": doc, "inputs": {"question": question}, "offline": True},
            )
            answer = result.outputs["answer"]
            assert answer.startswith("[offline"), answer
            assert f"Based on [1] ({source}):" in answer, (question, answer)
            assert result.outputs["citations"][0]["metadata.source"] == source
