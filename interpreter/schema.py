"""JSON Schema of the workflow language, for editors' YAML language servers.

Generated from the pydantic models, then widened by the spellings the original
LLM-Orchestrator format used (``condition``, ``timeout_seconds``, ``tasks``, retry in
milliseconds, free keys on ``llm``/``action``/``transform`` steps), so one schema
accepts every file the loader accepts.
"""

from __future__ import annotations

from typing import Any

from interpreter.durations import DURATION_PATTERN
from interpreter.models import WorkflowDefinition
from interpreter.steps import KINDS

__all__ = ["json_schema"]

_SECONDS = {"type": "number", "exclusiveMinimum": 0, "description": "Seconds (original format)."}
_ORIGINAL_RETRY = {
    "initial_delay_ms": {"type": "number", "minimum": 0},
    "max_delay_ms": {"type": "number", "minimum": 0},
    "initial_delay": {"type": "number", "minimum": 0},
    "max_delay": {"type": "number", "minimum": 0},
    "backoff": {"enum": ["exponential", "linear", "constant", "fixed"]},
    "strategy": {"enum": ["exponential", "linear", "constant", "fixed"]},
    "backoff_multiplier": {"type": "number", "minimum": 1},
}


def json_schema() -> dict[str, Any]:
    """The language's JSON Schema (draft 2020-12)."""
    schema = WorkflowDefinition.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://llm-orchestrator.dev/schema/workflow.json"
    props = schema["properties"]
    props["timeout_seconds"] = _SECONDS
    props["id"] = {"type": "string", "description": "Original format: a UUID, kept as metadata."}
    defs = schema["$defs"]
    for kind in KINDS.values():
        definition = defs[kind.model.__name__]
        step_props = definition["properties"]
        step_props["timeout_seconds"] = _SECONDS
        if "condition" not in kind.conditions:
            step_props["condition"] = {
                "type": "string",
                "description": "Original spelling of `when`.",
            }
        if kind.free_keys_into is not None:
            # the original format put provider options / parameters on the step itself
            definition["additionalProperties"] = True
        for key in ("depends_on", "output", "stop"):
            if key in step_props:
                step_props[key] = {"anyOf": [step_props[key], {"type": "string"}]}
    defs["RetryPolicy"]["properties"].update(_ORIGINAL_RETRY)
    parallel = defs["ParallelStep"]
    parallel["properties"]["tasks"] = parallel["properties"]["steps"]
    parallel["required"] = [r for r in parallel["required"] if r != "steps"]
    parallel["anyOf"] = [{"required": ["steps"]}, {"required": ["tasks"]}]
    props["version"] = {"anyOf": [{"type": "string"}, {"type": "number"}], "default": "1.0"}
    schema["description"] = (
        "An llm-orchestrator workflow. Durations are seconds or strings matching "
        f"{DURATION_PATTERN!r}."
    )
    return schema
