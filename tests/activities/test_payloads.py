"""Activity payloads tolerate fields they do not know (rolling deploys); the language does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload as TemporalPayload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.model_steps import ModelActivities
from activities.providers import Providers
from activities.transform import run_transform
from activities.vectorstores import Stores
from interpreter.contract import StepOutcome
from interpreter.steps.llm import LlmRequest, LlmStep
from interpreter.steps.transform import TransformRequest


def _decode(body: dict[str, Any], type_: type[Any]) -> Any:
    """Decode JSON the way a worker decodes an activity argument from history."""
    payload = TemporalPayload(metadata={"encoding": b"json/plain"}, data=json.dumps(body).encode())
    return pydantic_data_converter.payload_converter.from_payload(payload, type_)


async def test_the_llm_activity_accepts_a_payload_from_a_newer_workflow() -> None:
    body = {
        "step": {
            "id": "ask",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "prompt": "Say hi",
            "mock_response": "hi there",
            "a_field_from_a_newer_version": {"anything": True},
        },
        "offline": True,
        "another_new_field": 3,
    }
    request = _decode(body, LlmRequest)
    activities = ModelActivities(Providers(), Stores())
    outcome: StepOutcome = await ActivityEnvironment().run(activities.llm, request)
    assert outcome.output == "hi there"
    assert outcome.extras[0]  # the answering model is reported


async def test_the_transform_activity_accepts_unknown_fields() -> None:
    body = {
        "step": {"id": "t", "function": "upper", "inputs": "abc", "params": {}, "later": 1},
        "rendered": None,
        "later_too": [],
    }
    outcome: StepOutcome = await ActivityEnvironment().run(
        run_transform, _decode(body, TransformRequest)
    )
    assert outcome.output == "ABC"


def test_the_language_model_still_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="a_field_from_a_newer_version"):
        LlmStep.model_validate(
            {"id": "a", "type": "llm", "prompt": "x", "a_field_from_a_newer_version": 1}
        )


def test_a_payload_never_carries_none_for_provider_or_model() -> None:
    with pytest.raises(ValidationError, match="provider"):
        LlmRequest.model_validate({"step": {"id": "a", "model": "m", "prompt": "x"}})
