"""The contract between the workflow and its activities: names and payload models.

Activity names are stable strings; renaming one breaks every history that used
it (the replay tests catch that). Payload models evolve only by adding fields
with defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interpreter.payload import Payload

WORKFLOW_TYPE = "DagWorkflow"
DEFAULT_TASK_QUEUE = "llm-orchestrator"

ACTIVITY_RESOLVE_WORKFLOW = "resolve_workflow"
ACTIVITY_LLM = "step_llm"
ACTIVITY_EMBED = "step_embed"
ACTIVITY_VECTOR_SEARCH = "step_vector_search"
ACTIVITY_TRANSFORM = "step_transform"
ACTIVITY_ACTION = "step_action"
ACTIVITY_MCP = "step_mcp"
ACTIVITY_AGENT_TURN = "step_agent_turn"
"""One model turn of an `agent` step (``interpreter.conversation``)."""
ACTIVITY_MCP_LIST_TOOLS = "mcp_list_tools"
"""Lists an MCP server's tools (name, description, input schema): for `agent` steps."""

ALL_ACTIVITY_NAMES = (
    ACTIVITY_RESOLVE_WORKFLOW,
    ACTIVITY_LLM,
    ACTIVITY_EMBED,
    ACTIVITY_VECTOR_SEARCH,
    ACTIVITY_TRANSFORM,
    ACTIVITY_ACTION,
    ACTIVITY_MCP,
    ACTIVITY_MCP_LIST_TOOLS,
    ACTIVITY_AGENT_TURN,
)

QUERY_PROGRESS = "progress"
UPDATE_APPROVE = "approve"
"""The Update (and signal, for fire-and-forget callers) that decides an `approval` step."""

SINK_ACTIONS = ("publish", "queue_review", "send_notification", "notify")
"""Actions that deliver their parameters to the worker's webhook for them, else to its log
(``LLM_ORCHESTRATOR_<ACTION>_URL``)."""

BUILTIN_ACTIONS = ("log", "http", "webhook", *SINK_ACTIONS)
"""Actions every worker provides: the one list, which ``activities.action`` dispatches on
and the workflow routes by (any other action name is a custom activity)."""


# --- workflow input and result -----------------------------------------------------


class Scope(Payload):
    """What a body run (a `map` item batch, a `loop` iteration, a sub-workflow's body) sees
    of the run that started it: extra template names and the outer steps it reads."""

    roots: dict[str, Any] = Field(default_factory=dict)
    """Extra top-level template names, e.g. ``loop`` (``index``, ``previous``)."""
    steps: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """``steps.<id>`` of outer steps the body reads (``output``, ``status``, bound names)."""
    per_step: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Extra template names for one step only: a map item's ``item``/``index``/``as`` name."""
    labels: dict[str, str] = Field(default_factory=dict)
    """How a step is named in activity summaries, e.g. ``summarize_each[3]``."""


class RunRef(Payload):
    """One run of a workflow id: what a rerun names as the run it continues."""

    workflow_id: str
    run_id: str


class ReusedStep(Payload):
    """A step of an earlier run whose recorded result a rerun takes instead of running it."""

    output: Any = None
    extras: list[Any] = Field(default_factory=list)
    """Its extra positional outputs (``output: [first, second, ...]``), in order."""
    usage: Usage | None = None
    """What the step spent in the earlier run: shown in its note, not charged again."""
    transcript: dict[str, Any] | None = None
    """An `agent` step's transcript, which later steps may read (``steps.<id>.transcript``)."""


class RunInput(Payload):
    """What starts a run: a catalog name or a whole definition, plus inputs."""

    workflow: str | None = None
    definition: dict[str, Any] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    offline: bool = Field(
        default=False, description="Route every model call to the offline provider."
    )
    mocks: dict[str, Any] = Field(
        default_factory=dict,
        description="Step id → its output: the step does not run (a branch takes that case).",
    )
    scope: Scope = Field(default_factory=Scope)
    library: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Workflows that `workflow` steps name, pinned with the run (ref → definition).",
    )
    records: bool = Field(
        default=False,
        description="The result carries every step's full record, not only its status "
        "(a parent run that reads its children's steps: map batches, loop iterations).",
    )
    reuse: dict[str, ReusedStep] = Field(
        default_factory=dict,
        description="Step id → its result in `rerun_of`: the step does not run (status `reused`).",
    )
    rerun_of: RunRef | None = Field(
        default=None, description="The run this one reruns (`llm-orchestrator rerun`)."
    )


class Usage(Payload):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    estimated: bool = False
    """Some of the counts are the worker's estimate: the provider reported no usage."""
    cached: bool = False
    """The answer came from the step cache: nothing was spent (0 tokens, $0), so budgets
    and the run's totals need no special case (docs/cache.md)."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 10),
            estimated=self.estimated or other.estimated,
            cached=self.cached and other.cached,
        )


class SkippedModel(Payload):
    """A model of a fallback chain that did not answer, and why it was left."""

    provider: str
    model: str
    error: str
    attempts: int = 0


class AnsweredBy(Payload):
    """Which provider/model answered a model step, and the ones tried before it."""

    provider: str
    model: str
    skipped: list[SkippedModel] = Field(default_factory=list)


class CacheUse(Payload):
    """A model step's cache as its activity receives it: resolved from the step's `cache`
    and `defaults.cache` by :func:`interpreter.caching.cache_use`."""

    ttl_s: float
    key: str | None = None
    """The rendered `key` template; ``None``: the key is a hash of the whole request."""


StepStatusName = Literal["pending", "running", "completed", "reused", "skipped", "failed"]
"""``reused``: taken from an earlier run by a rerun, without running (counts as completed)."""
RunStatusName = Literal["resolving", "running", "completed", "failed", "cancelled"]


class StepRecord(Payload):
    """Everything known about one step of a run."""

    id: str
    type: str
    status: StepStatusName = "pending"
    output: Any = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    started_at: str | None = None
    ended_at: str | None = None
    duration_ms: int | None = None
    usage: Usage | None = None
    error: str | None = None
    reason: str | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    """Per-item failures of a `map` with ``on_item_failure: continue`` (``index``, ``error``)."""
    answered_by: AnsweredBy | None = None
    """A model step: the provider/model that answered, and the fallbacks' story."""
    repairs: int = 0
    """An `llm` step: turns spent repairing replies that did not parse or match the schema."""
    transcript: dict[str, Any] | None = None
    """An `agent` step's conversation: ``messages`` and per-``turns`` tool calls and usage."""


class RunResult(Payload):
    """A run's outputs and each step's final status.

    Each step's full record (output, attempts, timing, usage) is in the history already
    (its activity's result) and comes from the ``progress`` query; the result repeats it
    only when the start input asks (``records``). Results of runs from before ``status``
    existed carry full ``steps`` and no ``status``: read both through :meth:`statuses`.
    """

    workflow: str
    version: str
    outputs: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, StepStatusName] = Field(default_factory=dict)
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    """Every step's record when the start input asked for ``records`` (or an older run)."""
    usage: Usage = Field(default_factory=Usage)
    duration_ms: int = 0

    def statuses(self) -> dict[str, StepStatusName]:
        """Each step's final status, from either form of result."""
        return dict(self.status) or {step_id: r.status for step_id, r in self.steps.items()}


class Waiting(Payload):
    """Something a run waits for from outside: a person's decision or a named signal."""

    step: str
    kind: Literal["approval", "signal"]
    name: str
    """The Update/signal that answers it: ``approve``, or the signal's name."""
    message: str | None = None
    since: str | None = None
    timeout_s: float | None = None


class Progress(Payload):
    """Answer of the ``progress`` query: live state of every step."""

    workflow: str | None = None
    version: str | None = None
    status: RunStatusName = "resolving"
    steps: dict[str, StepRecord] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    waiting: list[Waiting] = Field(default_factory=list)


class Decision(Payload):
    """A person's answer to an `approval` step (the ``approve`` Update or signal)."""

    step: str
    approved: bool
    by: str | None = None
    comment: str | None = None
    data: Any = None


# --- activity payloads -------------------------------------------------------------


class StepOutcome(Payload):
    """What a step activity returns: the primary output, extra positional outputs, usage."""

    output: Any = None
    extras: list[Any] = Field(default_factory=list)
    usage: Usage | None = None
    attempt: int = 1
    errors: list[dict[str, Any]] = Field(default_factory=list)
    """Per-item failures a `map` step went on without."""
    note: str = ""
    """How the step got its result when that is worth saying (shown as its `reason`)."""
    repairs: int = 0
    """Repair turns the `llm` activity spent (their usage is in ``usage``)."""
    answered_by: AnsweredBy | None = None
    """Set by the workflow from the chain it walked, not by the activity."""
    transcript: dict[str, Any] | None = None
    """An `agent` step's conversation (kept on its record, ``steps.<id>.transcript``)."""


# --- live tokens --------------------------------------------------------------------

TOKENS_TOPIC = "tokens"
"""The run's Workflow Streams topic that streamed `llm` steps publish their text on."""


class TokenBatch(Payload):
    """The text one streamed step's model wrote since its last batch (activities/live_tokens).

    ``run``: the workflow id of the run the step belongs to (the top run, or a child's
    such as ``top/each/batch-0``); ``attempt``: the activity attempt, so a retry's text
    is told from the first; ``done``: the step's last batch; ``sent_at``: Unix seconds on
    the publisher's clock, for measuring the delay."""

    step: str
    text: str = ""
    run: str = ""
    attempt: int = 1
    done: bool = False
    sent_at: float = 0.0
