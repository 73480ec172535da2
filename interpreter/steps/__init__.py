"""The step kinds: one module each, and this registry that names them all.

Adding a kind means adding its module (model, payload, ``KIND`` entry) and two
lines here: a member of :data:`Step` and a case in :func:`kind_of`. mypy checks
that :func:`kind_of` covers every member (``assert_never``); a test checks that
every module here is registered. See ``docs/contributing.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, assert_never, get_args

from pydantic import Field

from interpreter.fields import Defaults
from interpreter.steps import (
    action,
    agent,
    approval,
    branch,
    embed,
    llm,
    loop,
    map,
    mcp,
    parallel,
    transform,
    vector_search,
    wait,
    workflow,
)
from interpreter.steps._kind import (
    ActivityCall,
    ActivityChain,
    ActivityKind,
    AsyncKind,
    Body,
    ChainAnswer,
    DecisionKind,
    GroupKind,
    Loc,
    Nested,
    PureKind,
    Report,
    RunFacts,
    Runtime,
    Shape,
    StepBase,
    StepCall,
    StepFailure,
    StepKind,
)
from interpreter.steps.action import ActionStep
from interpreter.steps.agent import AgentStep
from interpreter.steps.approval import ApprovalStep
from interpreter.steps.branch import BranchStep
from interpreter.steps.embed import EmbedStep
from interpreter.steps.llm import LlmStep
from interpreter.steps.loop import LoopStep
from interpreter.steps.map import MapStep
from interpreter.steps.mcp import McpStep
from interpreter.steps.parallel import ParallelStep
from interpreter.steps.transform import TransformStep
from interpreter.steps.vector_search import VectorSearchStep
from interpreter.steps.wait import WaitStep
from interpreter.steps.workflow import WorkflowStep

__all__ = [
    "KINDS",
    "ActionStep",
    "ActivityCall",
    "ActivityChain",
    "ActivityKind",
    "AgentStep",
    "AnyKind",
    "AnyStep",
    "ApprovalStep",
    "AsyncKind",
    "Body",
    "BranchStep",
    "ChainAnswer",
    "DecisionKind",
    "EmbedStep",
    "GroupKind",
    "LlmStep",
    "Loc",
    "LoopStep",
    "MapStep",
    "McpStep",
    "Nested",
    "ParallelStep",
    "PureKind",
    "Report",
    "RunFacts",
    "Runtime",
    "Shape",
    "Step",
    "StepBase",
    "StepCall",
    "StepFailure",
    "StepKind",
    "TransformStep",
    "VectorSearchStep",
    "WaitStep",
    "WorkflowStep",
    "describe_step",
    "kind_of",
]

AnyStep = (
    LlmStep
    | EmbedStep
    | VectorSearchStep
    | TransformStep
    | ActionStep
    | ParallelStep
    | BranchStep
    | MapStep
    | LoopStep
    | ApprovalStep
    | WaitStep
    | WorkflowStep
    | McpStep
    | AgentStep
)
Step = Annotated[AnyStep, Field(discriminator="type")]
"""Any step, discriminated on ``type``."""

AnyKind = ActivityKind[Any] | GroupKind[Any] | DecisionKind[Any] | AsyncKind[Any] | PureKind[Any]
"""Every way a step can run; the workflow dispatches over these exhaustively."""


def kind_of(step: AnyStep) -> AnyKind:
    """The kind entry of ``step``."""
    match step:
        case LlmStep():
            return llm.KIND
        case EmbedStep():
            return embed.KIND
        case VectorSearchStep():
            return vector_search.KIND
        case TransformStep():
            return transform.KIND
        case ActionStep(action="log"):
            return action.LOG_KIND
        case ActionStep():
            return action.KIND
        case ParallelStep():
            return parallel.KIND
        case BranchStep():
            return branch.KIND
        case MapStep():
            return map.KIND
        case LoopStep():
            return loop.KIND
        case ApprovalStep():
            return approval.KIND
        case WaitStep():
            return wait.KIND
        case WorkflowStep():
            return workflow.KIND
        case McpStep():
            return mcp.KIND
        case AgentStep():
            return agent.KIND
        case _:
            assert_never(step)


KINDS: dict[str, AnyKind] = {
    get_args(cls.model_fields["type"].annotation)[0]: kind_of(cls.model_construct())
    for cls in get_args(AnyStep)
}
"""Every kind by its ``type`` name, derived from :data:`AnyStep` through :func:`kind_of`."""


def describe_step(step: AnyStep, defaults: Defaults | None = None) -> str:
    """What a step does in a few words, e.g. ``llm openai/gpt-4o-mini``."""
    return kind_of(step).summary(step, defaults or Defaults())


# The kinds that hold steps name `Step`, this union of every kind, themselves included,
# which their modules cannot import. Models are built on first use (`defer_build`) from
# their module's names, so `Step` joins those names here, before anything is built.
for _container in (parallel, branch, map, loop):
    vars(_container)["Step"] = Step
