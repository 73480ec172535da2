"""The Python SDK: build workflows in code (:mod:`.builder`) and run them (:mod:`.client`).

Workflows built here are checked by the same validator as files and export to the
same YAML/JSON; see ``docs/sdk.md``.
"""

from llm_orchestrator.sdk.builder import Steps, StepSpec, Workflow
from llm_orchestrator.sdk.client import Orchestrator, Run, WorkflowRef

__all__ = ["Orchestrator", "Run", "StepSpec", "Steps", "Workflow", "WorkflowRef"]
