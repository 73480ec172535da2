"""What every step kind is made of: the common step fields and the kind's entry.

A step kind is one module under :mod:`interpreter.steps` holding its language
model (strict, what users write), its activity payload if it runs as one
(tolerant, what workers receive) and one :class:`StepKind` entry that says
everything the rest of the interpreter needs to know about it:

* ``templated`` / ``conditions`` — the fields rendered before it runs; validation
  checks exactly these;
* ``check`` — extra whole-file validation (e.g. a transform's function name);
* ``nested`` — the steps it contains (groups, branch cases), for the DAG;
* ``summary`` and ``shape`` — how the Web UI timeline and the diagrams show it;
* how it runs — the entry's base class: :class:`ActivityKind` (one activity per
  attempt chain), :class:`GroupKind` (children run inside it),
  :class:`DecisionKind` (chooses which of its cases run, in the workflow),
  :class:`AsyncKind` (runs in the workflow over timers, signals, child runs) or
  :class:`PureKind` (computed in the workflow, synchronously, from its rendered
  fields alone).

Every abstract member must be implemented, so a kind that forgets one cannot be
instantiated (mypy reports it where the module creates its ``KIND``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field, field_validator

from interpreter import defaults as code_defaults
from interpreter.durations import Duration
from interpreter.fields import (
    Defaults,
    FallbackEntry,
    FallbackOn,
    LanguageModel,
    RetryPolicy,
    StepId,
    TriggerRule,
    as_list,
)
from interpreter.payload import Payload

if TYPE_CHECKING:
    from interpreter.contract import (
        Decision,
        RunInput,
        RunResult,
        Scope,
        SkippedModel,
        StepOutcome,
        Usage,
    )
    from interpreter.steps import AnyStep

__all__ = [
    "ActivityCall",
    "ActivityChain",
    "ActivityKind",
    "AsyncKind",
    "Body",
    "ChainAnswer",
    "DecisionKind",
    "GroupKind",
    "Loc",
    "Nested",
    "PureKind",
    "Report",
    "RunFacts",
    "Runtime",
    "Shape",
    "StepBase",
    "StepCall",
    "StepFailure",
    "StepKind",
    "cause_message",
    "fallback_chain",
    "retry_of",
    "timeout_of",
]

Loc = tuple[str | int, ...]
Shape = Literal["task", "decision", "group"]
"""How diagrams draw a kind: a box, a diamond, or a frame around its children."""


class StepBase(LanguageModel):
    """The fields every step has, whatever its kind."""

    id: StepId
    description: str | None = None
    depends_on: list[StepId] = Field(default_factory=list)
    when: str | None = Field(
        default=None, description="Jinja expression; the step is skipped unless it is true."
    )
    timeout: Duration | None = None
    retry: RetryPolicy | None = None
    output: list[str] = Field(
        default_factory=list, description="Names bound to the step's result, in order."
    )
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    continue_on_error: bool = False

    _split_str = field_validator("depends_on", "output", mode="before")(as_list)


S = TypeVar("S", bound=StepBase)


def retry_of(step: StepBase, defaults: Defaults) -> RetryPolicy:
    """The retry policy that applies: the step's, else the file's, else the code's."""
    return step.retry or defaults.retry or code_defaults.RETRY


def timeout_of(step: StepBase, defaults: Defaults) -> float:
    """Start-to-close timeout of one attempt: the step's, else the file's, else the code's."""
    return step.timeout or defaults.timeout or code_defaults.STEP_TIMEOUT_SECONDS


class StepCall(Payload):
    """The common part of what a step activity receives: resolved, never ``None``."""

    id: str
    jitter: bool = True
    """The step's ``retry.jitter``: spread retry delays by ±20%."""


@dataclass(frozen=True, slots=True)
class Nested:
    """A step listed inside another one: inline, or named by id (branch cases)."""

    loc: Loc
    """Where it is written, relative to the containing step."""
    item: str | AnyStep
    case: str | None = None
    """The branch case that runs it; ``None`` when it runs whenever its container does."""


@dataclass(frozen=True, slots=True)
class Body:
    """Steps that run as a body of this one (in child runs): validated on their own, with
    the extra names ``roots`` and read access to the steps before the containing one."""

    steps: tuple[AnyStep, ...]
    loc: Loc
    """Where the body is written, relative to the containing step."""
    single: bool
    """The body is one step written at ``loc`` (``map``'s ``step:``), not a list."""
    roots: frozenset[str]
    conditions: tuple[tuple[Loc, str], ...] = ()
    """Conditions on the body's steps (a loop's ``until``), relative to the containing step."""


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a kind may read about the run when it builds its activity payload."""

    defaults: Defaults
    offline: bool
    workflow_id: str
    run_id: str
    library: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Workflows that `workflow` steps name, pinned with the run (ref → definition)."""


Heartbeat = Literal["while_waiting", "per_chunk"] | None
"""How an activity heartbeats (:attr:`ActivityCall.heartbeat`)."""


@dataclass(frozen=True, slots=True)
class ActivityCall:
    """One activity to schedule for a step."""

    name: str
    payload: Any
    builtin: bool = True
    """Ours: returns a ``StepOutcome``. A custom activity's result is its own."""
    heartbeat: Heartbeat = "while_waiting"
    """How it heartbeats: all the while it waits (a silence of ``heartbeat_timeout``
    means its worker is gone, and the attempt is retried elsewhere), per streamed chunk
    (a stalled stream is retried too), or not at all (no heartbeat timeout)."""
    provider: str | None = None
    model: str | None = None
    """Who answers (model steps): the step record's ``answered_by``."""
    summary: str | None = None
    """What the Web UI shows for it; the kind's ``summary`` of the step when ``None``."""
    timeout: float | None = None
    retry: RetryPolicy | None = None
    """Per-attempt timeout and retry policy of this call; the step's when ``None``."""
    local: bool = False
    """Quick work on the worker's own data (a search of the embedded vector store): run as
    a local activity, in the workflow task, without a task-queue round trip."""


@dataclass(frozen=True, slots=True)
class ActivityChain:
    """The activities a step may take, in order: the next one runs only when the one before
    failed (after its retries) in a way that ``fallback_on`` lets move on."""

    calls: tuple[ActivityCall, ...]
    fallback_on: FallbackOn = "transient"


@dataclass(frozen=True, slots=True)
class ChainAnswer:
    """What a walked chain ended with: the answering call's result, and what came before."""

    result: Any
    call: ActivityCall
    skipped: list[SkippedModel]
    spent: Usage
    """Usage that failed entries reported (replies a model got wrong)."""


def fallback_chain(
    primary: ActivityCall,
    entries: Sequence[FallbackEntry],
    fallback_on: FallbackOn,
    *,
    payload_for: Callable[[str, str, bool], Any],
    word: str,
    retry: RetryPolicy,
) -> ActivityChain:
    """``primary`` then one call per fallback entry: the same activity, its payload from
    ``payload_for(provider, model, jitter)``, its own timeout and retry policy, and a
    summary (``llm anthropic/claude-3-5-haiku-latest (fallback 1)``) naming the model.
    ``retry`` is the step's policy, which an entry without its own uses."""
    calls = [primary]
    for number, entry in enumerate(entries, 1):
        model = entry.model or primary.model or "default"
        jitter = (entry.retry or retry).jitter
        calls.append(
            replace(
                primary,
                payload=payload_for(entry.provider, model, jitter),
                provider=entry.provider,
                model=model,
                summary=f"{word} {entry.provider}/{model} (fallback {number})",
                timeout=entry.timeout,
                retry=entry.retry,
            )
        )
    return ActivityChain(tuple(calls), fallback_on)


class Report(Protocol):
    """Where validation hooks report a problem (located at ``loc``)."""

    def __call__(self, loc: Loc, message: str, hint: str | None = None) -> None: ...


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class StepKind(ABC, Generic[S]):
    """Everything the interpreter knows about one kind of step."""

    @property
    @abstractmethod
    def model(self) -> type[S]:
        """The language model users write."""

    @property
    @abstractmethod
    def templated(self) -> tuple[str, ...]:
        """Fields rendered as templates just before the step runs."""

    @property
    @abstractmethod
    def shape(self) -> Shape: ...

    @abstractmethod
    def summary(self, step: S, defaults: Defaults) -> str:
        """A few words for the Web UI and diagrams, e.g. ``llm openai/gpt-4o-mini``."""

    conditions: tuple[str, ...] = ()
    """Fields that are Jinja expressions rather than text templates."""

    record_fields: tuple[str, ...] = ()
    """What ``steps.<id>`` has for this kind beyond ``output``, ``status`` and the bound
    names (an agent's ``transcript``); validation lets templates read these."""

    free_keys_into: str | None = None
    """Original format: the field that collects keys this kind does not know."""

    def template_sources(self, step: S) -> dict[str, Any]:
        """The templated fields as plain data (models dumped), by name: what the workflow
        renders and what validation checks, from the one list :attr:`templated`."""
        return {name: _plain(getattr(step, name)) for name in self.templated}

    def check(self, step: S, loc: Loc, report: Report) -> None:
        """Validation beyond the field types (the step sits at ``loc`` in the file)."""

    def nested(self, step: S) -> Iterator[Nested]:
        """The steps this one contains (in this run's graph)."""
        return iter(())

    def bodies(self, step: S) -> Iterator[Body]:
        """Steps it runs in child runs (a map's item body, a loop's iteration)."""
        return iter(())


class ActivityKind(StepKind[S]):
    """A step that runs as one Temporal activity (retried by its retry policy)."""

    metered: bool = False
    """It spends tokens: it does not start once the run's budget is exceeded."""

    @abstractmethod
    def call(self, step: S, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        """The activity and its payload, from the step and its rendered fields.

        Raises pydantic's ``ValidationError`` when a rendered value has the wrong type.
        """

    def chain(self, step: S, rendered: Mapping[str, Any], run: RunFacts) -> ActivityChain:
        """The call and the fallbacks to try after it (model steps' ``fallback``); by
        default the one :meth:`call`."""
        return ActivityChain((self.call(step, rendered, run),))


class GroupKind(StepKind[S]):
    """A step whose children run inside it; it finishes when they all have."""

    @abstractmethod
    def max_concurrency(self, step: S) -> int | None: ...

    def output(self, children: Mapping[str, Any]) -> Any:
        """The group's output from its children's outputs."""
        return dict(children)


def cause_message(exc: BaseException) -> str:
    """The innermost failure's message: what the provider or our code actually said."""
    # imported here: step modules load for `validate`, which must not pay for temporalio
    from temporalio.exceptions import ApplicationError, FailureError

    cause: BaseException | None = exc
    message = str(exc)
    while isinstance(cause, FailureError):
        message = cause.message or message
        if isinstance(cause, ApplicationError) and cause.type:
            message = f"{cause.message} [{cause.type}]"
        cause = cause.cause
    return message


class StepFailure(Exception):
    """An in-workflow kind's step failed (the message says why); the workflow records it,
    with what it spent all the same and, for an agent, its transcript so far."""

    def __init__(
        self,
        message: str,
        *,
        usage: Usage | None = None,
        transcript: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.usage = usage
        self.transcript = transcript


class Runtime(Protocol):
    """The durable primitives the workflow lends an in-workflow kind for one step."""

    @property
    def facts(self) -> RunFacts: ...

    @property
    def step_id(self) -> str: ...

    @property
    def label(self) -> str:
        """How summaries name this step (``summarize_each[3]`` inside a map)."""
        ...

    def context(self) -> Mapping[str, Any]:
        """The template context this step renders in."""
        ...

    def inputs_for_body(self, sources: Any) -> dict[str, Any]:
        """The run's inputs that the templates in ``sources`` read (all, if they need)."""
        ...

    def scope_for_body(self, sources: Any) -> Scope:
        """A scope for a body run: the outer steps ``sources``' templates read, and the
        extra names this step sees (a map item's ``item``/``index``)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def signal(self, name: str, timeout: float | None) -> tuple[bool, Any]:
        """Wait for signal ``name`` (one that came earlier counts): (arrived, payload)."""
        ...

    async def decision(self, message: str, timeout: float | None) -> Decision | None:
        """Wait for a person's decision on this step (``None``: the timeout passed)."""
        ...

    async def within_budget(self, spent: Usage, *, before: str) -> None:
        """Return once the run's `budget` (with ``spent``, this step's usage not yet
        recorded) and the step's own allow its next model call (``before`` names it, e.g.
        ``agent turn 3``): at once, or after a person raised the limit (``pause``). Raises
        :class:`StepFailure` naming spent and limit (``fail``, or a pause rejected)."""
        ...

    async def activity(
        self,
        name: str,
        payload: Any,
        *,
        summary: str,
        timeout: float,
        retry: RetryPolicy,
        result_type: type | None = None,
        heartbeat: Heartbeat = "while_waiting",
    ) -> Any:
        """Run one activity (an agent's model turn or tool call); its failure raises
        ``ActivityError`` once ``retry`` is spent."""
        ...

    async def walk(
        self,
        chain: ActivityChain,
        *,
        summary: str,
        timeout: float,
        retry: RetryPolicy,
        result_type: type | None = None,
    ) -> ChainAnswer:
        """Run a fallback chain as `llm` steps do: one activity per entry, the next only when
        the one before failed in a way the chain moves on from (an agent's model turn).
        A chain of one raises its ``ActivityError``; a longer one fails the step naming
        each model tried."""
        ...

    async def child(self, request: RunInput, *, suffix: str, label: str) -> RunResult:
        """Run a child `DagWorkflow` (cancelled with this step; its failure raises)."""
        ...

    async def children(
        self, requests: Sequence[tuple[RunInput, str, str]], *, concurrency: int
    ) -> list[RunResult]:
        """Run children (request, suffix, label) at most ``concurrency`` at a time; the first
        failure cancels the rest and raises. Results come in the order asked."""
        ...


class AsyncKind(StepKind[S]):
    """A step that runs in the workflow over durable primitives: timers, signals,
    Updates and child workflows (``wait``, ``approval``, ``workflow``, ``map``, ``loop``)."""

    @abstractmethod
    async def run(self, step: S, rendered: Mapping[str, Any], runtime: Runtime) -> StepOutcome:
        """Do the step; raise :class:`StepFailure` when it fails."""


class DecisionKind(StepKind[S]):
    """A step that chooses, in the workflow, which of its cases run."""

    @abstractmethod
    def decide(self, step: S, context: Mapping[str, Any]) -> str:
        """The chosen case (raises ``TemplateFailure`` if its expression fails)."""

    @abstractmethod
    def case_for(self, step: S, value: Any) -> str:
        """The case a value selects (what ``decide`` does after evaluating; mocks use it)."""


class PureKind(StepKind[S]):
    """A step computed in the workflow, synchronously, from its rendered fields alone
    (``transform``, the ``log`` action): deterministic, bounded cost, no I/O but a log line
    that replay does not repeat. It costs no activity round trip, and it is never retried:
    a pure function given the same data fails the same way."""

    replays_with: ActivityKind[S] | None = None
    """The activity kind that runs recorded before this kind ran in the workflow used;
    they replay with it (see ``docs/runtime.md``). ``None``: it always ran in the workflow."""

    patch: str = ""
    """The older ``workflow.patched`` id, if any, that marked runs computing it here before
    the workflow's one patch for all in-workflow steps (runs recorded between the two)."""

    @abstractmethod
    def compute(self, step: S, rendered: Mapping[str, Any]) -> StepOutcome:
        """The step's outcome; raise :class:`StepFailure` when it fails (the message is the
        step's error)."""
