"""Every exception llm-orchestrator raises, in three families kept apart.

::

    OrchestratorError
    ├── WorkflowDefinitionError      the user's mistakes in a workflow file or its inputs;
    │   │                            carries every Problem found, each located
    │   └── InputError               start inputs that do not match the declared `inputs`
    ├── StepError                    a step failed while running (template, transform, action)
    └── ProviderError                an outside service failed (HTTP status and headers kept;
                                     ``error_type`` says how, for the ``ERROR_*`` types below)

Across the activity boundary these travel as ``temporalio.exceptions.ApplicationError``
whose ``type`` is one of the ``ERROR_*`` names below, so retry policies and callers can
match on a stable string instead of a Python class. Failures the workflow decides
itself (a run over its `budget`: ``ERROR_BUDGET_EXCEEDED``) are raised there as an
``ApplicationError`` of that type, with no class of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

ERROR_INVALID_DEFINITION = "InvalidWorkflowDefinition"
ERROR_INVALID_INPUT = "InvalidWorkflowInput"
ERROR_STEP_FAILED = "StepFailed"
ERROR_TEMPLATE = "TemplateError"
ERROR_BUDGET_EXCEEDED = "BudgetExceeded"
ERROR_PROVIDER = "ProviderError"
"""An outside service failed in a way a later attempt may not: rate limited (429), overloaded
(503/529), another 5xx, a timeout, a refused or broken connection. Retryable."""
ERROR_PROVIDER_REJECTED = "ProviderRejected"
"""An outside service refused the request itself (400, 401, 403, 404, 422, a content filter):
sending it again changes nothing. Not retryable."""
ERROR_CIRCUIT_OPEN = "CircuitOpen"
"""The worker's circuit breaker for the provider is open: no request was sent. Retryable when
the breaker lets a probe through; a fallback chain moves on at once."""
ERROR_CONTEXT_LENGTH = "ContextLengthExceeded"
"""The prompt does not fit the model's context window (OpenAI ``context_length_exceeded``,
Anthropic ``prompt is too long``). Not retryable; another model may have a larger window."""
ERROR_INVALID_MODEL_OUTPUT = "InvalidModelOutput"
"""A reply that does not parse as JSON or match the step's schema, after the repair turns."""
TRANSIENT_ERRORS = frozenset({ERROR_PROVIDER, ERROR_CIRCUIT_OPEN, ERROR_CONTEXT_LENGTH})
"""Failure types that move a fallback chain on (``fallback_on: transient``), besides timeouts;
the one list that the workflow and docs/providers.md follow."""
ERROR_ACTION_NOT_ALLOWED = "ActionNotAllowed"
ERROR_MCP_TOOL = "McpToolError"
"""An MCP tool answered with an error result (its message kept); not retried."""
ERROR_INTERNAL = "InternalError"
"""A defect of the interpreter itself: the run fails instead of retrying its task forever."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a workflow file, located as precisely as we can."""

    message: str
    path: str = "<workflow>"
    line: int | None = None
    column: int | None = None
    hint: str | None = None
    where: str | None = None  # e.g. "steps[2].max_tokens" or "step `classify`"

    def format(self) -> str:
        loc = self.path
        if self.line is not None:
            loc += f":{self.line}:{self.column or 1}"
        text = f"{loc}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
            "where": self.where,
        }


class OrchestratorError(Exception):
    """Root of every error this project raises on purpose."""


@dataclass
class WorkflowDefinitionError(OrchestratorError):
    """A workflow file (or definition object) is invalid; ``problems`` lists them all."""

    problems: Sequence[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(p.format() for p in self.problems) or "invalid workflow"


class InputError(WorkflowDefinitionError):
    """Start inputs do not match what the workflow declares."""


class StepError(OrchestratorError):
    """A step failed at run time for a reason that is not an outside service's."""

    def __init__(self, step_id: str, message: str, *, error_type: str = ERROR_STEP_FAILED) -> None:
        super().__init__(f"step `{step_id}`: {message}")
        self.step_id = step_id
        self.error_type = error_type


class ProviderError(OrchestratorError):
    """An outside service (LLM API, vector store, webhook) answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool = True,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.headers = dict(headers or {})
        self.retryable = retryable
        self.error_type = error_type
        """One of the ``ERROR_*`` provider types when the raiser knows it (an open breaker, a
        context-length error); else derived from ``retryable``."""
        self.retry_after: float | None = None
        """Seconds the service asked us to wait before trying again, if it said."""
