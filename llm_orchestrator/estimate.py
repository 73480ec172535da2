"""The worst-case tokens and dollars of a workflow, before it runs (`llm-orchestrator estimate`).

Pure: it reads the definition, the inputs given and a price lookup, never a provider.
Each model step is priced as if everything that may be billed were billed:

* **prompt** — the step's system, messages and prompt rendered with the inputs given,
  counted like the worker counts text it must estimate (characters / 4, the one rule in
  :mod:`activities.providers.estimate`). A template that reads what is known only
  during the run (an upstream step's output) is counted as its template text, and the
  row says so.
* **output** — ``max_tokens`` (the step's, else ``defaults.max_tokens``), else
  :data:`DEFAULT_MAX_OUTPUT` tokens, stated in the row.
* **repairs** — with a JSON response format, ``repair_attempts`` more turns, turn *k*
  resending the prompt plus *k* replies and *k* repair asks (:data:`REPAIR_ASK_TOKENS`).
* **retries** — every attempt of ``retry.max_attempts`` may be billed.
* **fallbacks** — each entry with its own model's price and its own attempts.
* **map** — the body once per item when ``items`` renders to a list from the inputs
  (rendered for the longest item); otherwise once, marked "per item".
* **loop** — the body ``max_iterations`` times; **workflow** — the child file's steps;
  **branch** — every case (only one runs).
* **agent** — ``max_turns`` turns; turn *t* resends the prompt plus *t−1* replies and
  *t−1* tool results (:data:`TOOL_RESULT_TOKENS` each).
* **embed** — input tokens of every text, no output.

Dollars come from the same lookup the worker uses (the price table and the worker
config's ``prices``, :meth:`WorkerConfig.price`); a model without a price, or
``--offline``, costs $0 and the row says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from activities.providers.estimate import estimate_tokens
from activities.providers.prices import Price, cost_usd
from interpreter import defaults as code_defaults
from interpreter.budgets import Budgeted, overrun
from interpreter.contract import Usage
from interpreter.dag import Dag
from interpreter.fields import Defaults, FallbackEntry, JsonSchemaFormat
from interpreter.models import WorkflowDefinition
from interpreter.steps import (
    AgentStep,
    AnyStep,
    EmbedStep,
    LlmStep,
    LoopStep,
    MapStep,
    WorkflowStep,
)
from interpreter.steps._agent_tools import WorkflowTool
from interpreter.steps._kind import retry_of
from interpreter.steps.llm import chat_model
from interpreter.templates import TemplateFailure, render_value

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "REPAIR_ASK_TOKENS",
    "TOOL_RESULT_TOKENS",
    "Estimate",
    "Row",
    "estimate",
    "format_table",
]

DEFAULT_MAX_OUTPUT = 4096
"""Output tokens assumed for a call without ``max_tokens`` (most chat APIs' default cap
for the models in the price table is at least this; set ``max_tokens`` for a real bound)."""
REPAIR_ASK_TOKENS = 100
"""Tokens assumed for one repair ask (the validation errors are known only at run time)."""
TOOL_RESULT_TOKENS = 100
"""Tokens assumed for the tool results an agent turn adds (known only at run time)."""

PriceOf = Callable[[str], Price | None]


@dataclass(frozen=True, slots=True)
class Row:
    """One model (or fallback entry) of one step, at its worst."""

    step: str
    """The step's path: ``summarize``, ``per_doc[*].summarize``, ``child>ask``."""
    type: str
    model: str
    """``provider/model``."""
    calls: int
    """Model calls that may be billed (attempts × turns × repeats)."""
    input_tokens: int
    output_tokens: int
    usd: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Estimate:
    """Every row and the total."""

    workflow: str
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.rows)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.rows)

    @property
    def usd(self) -> float:
        return round(sum(r.usd for r in self.rows), 10)

    def as_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "steps": [{**asdict(r), "notes": list(r.notes)} for r in self.rows],
            "total": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "usd": self.usd,
            },
            "notes": list(self.notes),
            "assumptions": {
                "chars_per_token": 4,
                "default_max_output": DEFAULT_MAX_OUTPUT,
                "repair_ask_tokens": REPAIR_ASK_TOKENS,
                "tool_result_tokens": TOOL_RESULT_TOKENS,
            },
        }


def estimate(
    definition: WorkflowDefinition,
    inputs: Mapping[str, Any],
    *,
    price: PriceOf,
    library: Mapping[str, Mapping[str, Any]] | None = None,
    offline: bool = False,
) -> Estimate:
    """The worst case of a run of ``definition`` with ``inputs`` (declared defaults
    applied by the caller; missing ones make their templates count as text)."""
    walker = _Walker(price=price, library=library or {}, offline=offline)
    rows = list(walker.workflow(definition, dict(inputs), prefix="", repeat=1, notes=()))
    return Estimate(definition.name, tuple(rows), tuple(walker.notes))


@dataclass
class _Walker:
    price: PriceOf
    library: Mapping[str, Mapping[str, Any]]
    offline: bool
    notes: list[str] = field(default_factory=list)

    def workflow(
        self,
        definition: WorkflowDefinition,
        inputs: dict[str, Any],
        *,
        prefix: str,
        repeat: int,
        notes: tuple[str, ...],
        roots: Mapping[str, Any] | None = None,
    ) -> Iterator[Row]:
        context: dict[str, Any] = {**inputs, "inputs": inputs, "input": inputs}
        context.update(steps={}, outputs={}, workflow={"name": definition.name})
        context.update(roots or {})
        for node in Dag.build(definition).nodes.values():
            yield from self.step(
                node.step, definition.defaults, context, prefix=prefix, repeat=repeat, notes=notes
            )

    def step(
        self,
        step: AnyStep,
        defaults: Defaults,
        context: dict[str, Any],
        *,
        prefix: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        name = prefix + step.id
        rows = list(self._rows(step, defaults, context, name, repeat, notes))
        budget = step.budget if isinstance(step, Budgeted) else None
        if budget is not None and rows:
            # rows are for every repeat; the budget is for one run of the step
            usd = sum(r.usd for r in rows) / repeat
            tokens = sum(r.input_tokens + r.output_tokens for r in rows) // repeat
            over = overrun(
                budget, Usage(input_tokens=tokens, cost_usd=usd), name=f"`{name}`'s budget"
            )
            if over is not None:
                self.notes.append(
                    f"worst case above the step's budget ({over.replace('spent', 'costs')}); "
                    f"on_exceed: {budget.on_exceed} applies before its next call"
                )
        yield from rows

    def _rows(
        self,
        step: AnyStep,
        defaults: Defaults,
        context: dict[str, Any],
        name: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        if isinstance(step, LlmStep):
            yield from self.llm(step, defaults, context, name, repeat, notes)
        elif isinstance(step, EmbedStep):
            yield from self.embed(step, defaults, context, name, repeat, notes)
        elif isinstance(step, AgentStep):
            yield from self.agent(step, defaults, context, name, repeat, notes)
        elif isinstance(step, MapStep):
            yield from self.map(step, defaults, context, name, repeat, notes)
        elif isinstance(step, LoopStep):
            loop_notes = (*notes, f"× {step.max_iterations} iterations of `{step.id}`")
            for inner in step.steps:
                yield from self.step(
                    inner,
                    defaults,
                    {**context, "loop": {"index": 0, "previous": None}},
                    prefix=f"{name}#*.",
                    repeat=repeat * step.max_iterations,
                    notes=loop_notes,
                )
        elif isinstance(step, WorkflowStep):
            yield from self.child(step, context, name, repeat, notes)
        # other kinds spend no tokens; groups' and branches' children are nodes of the DAG

    def llm(
        self,
        step: LlmStep,
        d: Defaults,
        context: dict[str, Any],
        name: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        prompt, output, text_notes, out_notes = _prompt_and_reply(step, d, context)
        json_reply = step.response_format == "json" or isinstance(
            step.response_format, JsonSchemaFormat
        )
        repairs = 0
        if json_reply:
            repairs = next(
                v
                for v in (step.repair_attempts, d.repair_attempts, code_defaults.REPAIR_ATTEMPTS)
                if v is not None
            )
        turns = repairs + 1
        # turn k (0-based) resends the prompt and k earlier replies with k repair asks
        turn_input = turns * prompt + (output + REPAIR_ASK_TOKENS) * repairs * turns // 2
        provider, model = chat_model(step, d)
        entries = step.fallback if step.fallback is not None else d.fallback or []
        base = (*notes, *text_notes, *out_notes)
        if repairs:
            base = (*base, f"{repairs} repair turns")
        yield from self.chain(
            "llm",
            name,
            provider,
            model,
            entries,
            retry_of(step, d).max_attempts,
            turns=turns,
            input_tokens=turn_input,
            output_tokens=turns * output,
            repeat=repeat,
            notes=base,
        )

    def agent(
        self,
        step: AgentStep,
        d: Defaults,
        context: dict[str, Any],
        name: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        prompt, output, text_notes, out_notes = _prompt_and_reply(step, d, context)
        turns = step.max_turns or 1
        tool_notes = tuple(
            f"workflow tool `{tool.workflow}` not counted: its runs' model steps add to this"
            for tool in step.tools
            if isinstance(tool, WorkflowTool)
        )
        # turn t (1-based) resends the prompt and the t-1 replies and tool results before it
        turn_input = turns * prompt + (output + TOOL_RESULT_TOKENS) * turns * (turns - 1) // 2
        yield from self.chain(
            "agent",
            name,
            *chat_model(step, d),
            step.fallback if step.fallback is not None else d.fallback or [],
            retry_of(step, d).max_attempts,
            turns=turns,
            input_tokens=turn_input,
            output_tokens=turns * output,
            repeat=repeat,
            notes=(*notes, *text_notes, *out_notes, f"{turns} turns", *tool_notes),
        )

    def embed(
        self,
        step: EmbedStep,
        d: Defaults,
        context: dict[str, Any],
        name: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        text, text_notes = _text(step.input, context)
        provider = step.provider or d.embedding_provider or code_defaults.EMBEDDING_PROVIDER
        model = step.model or d.embedding_model or code_defaults.EMBEDDING_MODEL
        yield from self.chain(
            "embed",
            name,
            provider,
            model,
            step.fallback,
            retry_of(step, d).max_attempts,
            turns=1,
            input_tokens=estimate_tokens(text),
            output_tokens=0,
            repeat=repeat,
            notes=(*notes, *text_notes),
        )

    def chain(
        self,
        kind: str,
        name: str,
        provider: str,
        model: str,
        entries: Sequence[FallbackEntry],
        attempts: int,
        *,
        turns: int,
        input_tokens: int,
        output_tokens: int,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        """The primary's row and one per fallback entry (``turns`` calls per attempt)."""
        tried = [(provider, model, attempts, "")]
        for number, entry in enumerate(entries, 1):
            tries = entry.retry.max_attempts if entry.retry is not None else attempts
            tried.append((entry.provider, entry.model or model, tries, f"fallback {number}"))
        for provider_name, model_name, tries, which in tried:
            times = tries * repeat
            row_notes = list(notes)
            if which:
                row_notes.insert(0, which)
            if tries > 1:
                row_notes.append(f"{tries} attempts")
            price = None if self.offline else self.price(model_name)
            if self.offline:
                row_notes.append("offline: $0")
            elif price is None:
                row_notes.append(f"no price for `{model_name}`: $0")
            yield Row(
                step=name,
                type=kind,
                model=f"{provider_name}/{model_name}",
                calls=turns * times,
                input_tokens=input_tokens * times,
                output_tokens=output_tokens * times,
                usd=cost_usd(price, input_tokens * times, output_tokens * times),
                notes=tuple(row_notes),
            )

    def map(
        self,
        step: MapStep,
        d: Defaults,
        context: dict[str, Any],
        name: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        try:
            items = render_value(step.items, context)
        except TemplateFailure:
            items = None
        body = [step.step] if step.step is not None else list(step.steps or [])
        if isinstance(items, list):
            count = len(items)
            longest = max(items, key=lambda i: len(json.dumps(i, default=str)), default=None)
            roots = {step.as_: longest, "item": longest, "index": max(count - 1, 0)}
            map_notes = (*notes, f"× {count} items of `{step.id}` (each priced as the longest)")
        else:
            count = 1
            roots = {}
            map_notes = (*notes, f"per item of `{step.id}` (items unknown before the run)")
            self.notes.append(
                f"`{name}`: the number of items is known only during the run; its rows are "
                "for one item"
            )
        for inner in body:
            yield from self.step(
                inner,
                d,
                {**context, **roots},
                prefix=f"{name}[*].",
                repeat=repeat * count,
                notes=map_notes,
            )

    def child(
        self,
        step: WorkflowStep,
        context: dict[str, Any],
        name: str,
        repeat: int,
        notes: tuple[str, ...],
    ) -> Iterator[Row]:
        raw = self.library.get(step.workflow)
        if raw is None:
            self.notes.append(f"`{name}`: workflow `{step.workflow}` not found, not counted")
            return
        definition = WorkflowDefinition.model_validate(raw)
        try:
            inputs = render_value(step.inputs, context)
        except TemplateFailure:
            inputs = {}
        given = {k: v for k, v in inputs.items()} if isinstance(inputs, dict) else {}
        for key, spec in definition.inputs.items():
            if key not in given and spec.default is not None:
                given[key] = spec.default
        yield from self.workflow(definition, given, prefix=f"{name}>", repeat=repeat, notes=notes)


def _prompt_and_reply(
    step: LlmStep | AgentStep, d: Defaults, context: dict[str, Any]
) -> tuple[int, int, tuple[str, ...], tuple[str, ...]]:
    """A chat step's prompt tokens (rendered where it can be) and its reply's cap, with the
    notes saying what was assumed."""
    sources: dict[str, Any] = {
        "system": step.system,
        "prompt": step.prompt,
        "messages": [m.content for m in step.messages],
    }
    text, text_notes = _text(sources, context)
    limit = step.max_tokens if step.max_tokens is not None else d.max_tokens
    output = limit if limit is not None else DEFAULT_MAX_OUTPUT
    out_notes = () if limit is not None else (f"no max_tokens: {DEFAULT_MAX_OUTPUT} assumed",)
    return estimate_tokens(text), output, text_notes, out_notes


def _text(sources: Any, context: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The text a model reads from ``sources`` rendered with what is known before the
    run; parts that need the run are their template text (and a note says so)."""
    parts: list[str] = []
    unknown = False
    for source in _strings(sources):
        try:
            value = render_value(source, context)
        except TemplateFailure:
            value, unknown = source, True
        parts.append(value if isinstance(value, str) else json.dumps(value, default=str))
    return "".join(parts), ("template text counted (reads run-time values)",) if unknown else ()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def format_table(result: Estimate) -> str:
    """The estimate as a text table with its total and notes."""
    header = ("step", "type", "model", "calls", "in tokens", "out tokens", "USD", "notes")
    rows = [
        (
            r.step,
            r.type,
            r.model,
            str(r.calls),
            str(r.input_tokens),
            str(r.output_tokens),
            f"${r.usd:.6f}",
            "; ".join(r.notes),
        )
        for r in result.rows
    ]
    total = (
        "total",
        "",
        "",
        str(sum(r.calls for r in result.rows)),
        str(result.input_tokens),
        str(result.output_tokens),
        f"${result.usd:.6f}",
        "",
    )
    table = [header, *rows, total]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines = []
    for number, row in enumerate(table):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if number == 0 or number == len(table) - 2:
            lines.append("  ".join("-" * w for w in widths))
    text = f"worst case of `{result.workflow}` (nothing runs; see docs/cli.md#estimate)\n"
    text += "\n".join(lines)
    for note in result.notes:
        text += f"\nnote: {note}"
    return text + "\n"
