"""The `agent` step: a bounded tool-calling loop, durable turn by turn.

Each model turn is one activity (``step_agent_turn``) that gets the conversation so
far; each tool call it asks for is its own activity (an MCP tool, a custom
activity) or child run (a workflow), several at once when one turn asks for
several. So a worker that dies mid-conversation costs at most the turn or tool
call in flight: on replay the finished ones come from history, not from the model.

The loop lives here, over the :class:`~interpreter.steps.Runtime` primitives; the
conversation crosses the activity boundary in the neutral shape of
:mod:`interpreter.conversation`. Arguments are parsed and checked against the
tool's JSON Schema in the workflow (``jsonschema`` is pure), and everything that
goes wrong with a tool — unknown name, bad arguments, a failure, a person's
rejection — is told to the model as that call's result, up to ``max_tool_errors``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from interpreter import conversation
from interpreter import defaults as code_defaults

# the module, not its names: `interpreter.conversation` imports `interpreter.steps`
# (StepCall), so whichever of the two is imported first, the other is half-done then
from interpreter.budgets import Budgeted
from interpreter.caching import cache_use
from interpreter.contract import (
    ACTIVITY_AGENT_TURN,
    ACTIVITY_MCP,
    RunInput,
    StepOutcome,
    Usage,
)
from interpreter.fields import (
    CacheField,
    CacheOptions,
    Defaults,
    FallbackEntry,
    FallbackOn,
    JsonSchemaFormat,
    LanguageModel,
    Message,
)
from interpreter.steps._agent_tools import (
    ActivityTool,
    McpTool,
    Resolved,
    Tool,
    WorkflowTool,
    model_safe,
    resolve_tools,
    tool_name,
)
from interpreter.steps._kind import (
    ActivityCall,
    AsyncKind,
    Loc,
    Report,
    Runtime,
    Shape,
    StepBase,
    StepFailure,
    cause_message,
    fallback_chain,
    retry_of,
    timeout_of,
)
from interpreter.steps.llm import ResponseFormat, ResponseSchema, chat_model
from interpreter.steps.mcp import McpCall, McpRequest

__all__ = [
    "KIND",
    "ActivityTool",
    "AgentStep",
    "McpTool",
    "MockTurnSpec",
    "WorkflowTool",
    "tool_name",
]


class MockToolCallSpec(LanguageModel):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class MockTurnSpec(LanguageModel):
    """A scripted assistant turn for offline runs: a final ``text``, or ``tool_calls``
    (with ``text`` too, as models sometimes say something while calling tools)."""

    text: str | dict[str, Any] | list[Any] | None = None
    tool_calls: list[MockToolCallSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _says_something(self) -> MockTurnSpec:
        if self.text is None and not self.tool_calls:
            raise ValueError("a mock turn is `text: ...` (an answer) or `tool_calls: [...]`")
        return self


class AgentStep(StepBase, Budgeted):
    """A model that calls tools until it answers, at most ``max_turns`` model turns."""

    type: Literal["agent"]
    provider: str | None = None
    model: str | None = None
    system: str | None = None
    prompt: str | None = None
    messages: list[Message] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    # optional to pydantic so that a missing one is reported by `check`, with a hint
    max_turns: int | None = Field(
        default=None,
        description="Required, ≥ 1: at most this many model turns.",
        json_schema_extra={"minimum": 1},
    )
    max_tool_errors: int = Field(default=3, ge=1)
    on_max_turns: Literal["fail", "return_last"] = "fail"
    response_format: ResponseFormat = "text"
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)
    mock_turns: list[MockTurnSpec] = Field(
        default_factory=list, description="Turns the offline provider plays, in order."
    )
    fallback: list[FallbackEntry] | None = Field(
        default=None,
        description="Models to try for a turn, in order, when the ones before failed; "
        "`defaults.fallback` when not given (`[]`: none).",
    )
    fallback_on: FallbackOn | None = None
    cache: CacheField | None = Field(
        default=None,
        description="Keep each turn's answer across runs, keyed by the conversation so far: "
        "`true` or `{ttl}` (docs/cache.md).",
    )

    @model_validator(mode="after")
    def _needs_prompt(self) -> AgentStep:
        if self.prompt is None and not self.messages:
            raise ValueError("an `agent` step needs `prompt` or `messages`")
        return self


# --- the loop ------------------------------------------------------------------------


@dataclass(slots=True)
class _Result:
    """One tool call's outcome: what the model is told, and what the transcript keeps."""

    call: conversation.ToolCall
    arguments: Any
    value: Any
    is_error: bool = False
    counts: bool = True
    """An error that counts toward ``max_tool_errors`` (a person's rejection does not)."""

    @property
    def content(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return json.dumps(self.value, ensure_ascii=False, default=str)


class _Loop:
    """One run of an agent step."""

    def __init__(
        self,
        step: AgentStep,
        rendered: Mapping[str, Any],
        runtime: Runtime,
        tools: dict[str, Resolved],
    ) -> None:
        import asyncio  # here: ~20 ms to import, which checking a file (`validate`) does not need

        self.step = step
        self.runtime = runtime
        self.tools = tools
        self.defaults = runtime.facts.defaults
        self.timeout = timeout_of(step, self.defaults)
        self.retry = retry_of(step, self.defaults)
        self.usage = Usage()
        self.turns: list[dict[str, Any]] = []
        self.errors = 0
        self.last_error = ""
        self._approvals = asyncio.Lock()  # one person-facing question at a time per step
        system_parts = [rendered["system"]] if rendered.get("system") else []
        self.messages: list[conversation.AgentMessage] = []
        for message in rendered.get("messages") or []:
            if message["role"] == "system":
                system_parts.append(message["content"])
            else:
                self.messages.append(
                    conversation.AgentMessage(role=message["role"], content=message["content"])
                )
        if rendered.get("prompt") is not None:
            self.messages.append(
                conversation.AgentMessage(role="user", content=str(rendered["prompt"]))
            )
        self.system = "\n\n".join(system_parts) or None

    def _request(self, turn: int) -> conversation.AgentTurnRequest:
        step, d = self.step, self.defaults
        temperature = step.temperature if step.temperature is not None else d.temperature
        provider, model = chat_model(step, d)
        fmt = step.response_format
        call = conversation.AgentTurnCall(
            id=step.id,
            jitter=self.retry.jitter,
            provider=provider,
            model=model,
            turn=turn,
            system=self.system,
            messages=list(self.messages),
            tools=[t.spec for t in self.tools.values()],
            temperature=temperature,
            max_tokens=step.max_tokens if step.max_tokens is not None else d.max_tokens,
            top_p=step.top_p,
            stream=step.stream,
            response_format=(
                ResponseSchema(name=fmt.name, json_schema=fmt.json_schema).model_dump()
                if isinstance(fmt, JsonSchemaFormat)
                else fmt
            ),
            extra=dict(step.extra),
            mock_turns=[
                conversation.MockTurn.model_validate(t.model_dump()) for t in step.mock_turns
            ],
            cache=cache_use(step.cache, None, d, temperature=temperature),
        )
        return conversation.AgentTurnRequest(step=call, offline=self.runtime.facts.offline)

    async def run(self) -> StepOutcome:
        """Converse until an answer; a failure keeps what the turns spent and the
        transcript so far (the run's totals and budget count them; a person sees why)."""
        try:
            return await self._converse()
        except StepFailure as exc:
            usage = self.usage + exc.usage if exc.usage is not None else self.usage
            raise StepFailure(str(exc), usage=_some(usage), transcript=self._transcript()) from None
        except Exception as exc:  # a budget stop, as the workflow words it
            raise StepFailure(
                cause_message(exc), usage=_some(self.usage), transcript=self._transcript()
            ) from None

    async def _converse(self) -> StepOutcome:
        import asyncio  # here, as in __init__: `validate` does not need it

        step, runtime = self.step, self.runtime
        last_text = ""
        limit = step.max_turns or 1  # validation requires it, ≥ 1
        for turn in range(1, limit + 1):
            await runtime.within_budget(self.usage, before=f"agent turn {turn}")
            answer, answered = await self._turn(turn)
            # a call without an id (some servers) gets one: results are matched by it, and
            # a workflow tool's child run is named after it
            answer = answer.model_copy(
                update={
                    "tool_calls": [
                        c if c.id else c.model_copy(update={"id": f"call_{turn}_{n}"})
                        for n, c in enumerate(answer.tool_calls, 1)
                    ]
                }
            )
            self.usage = self.usage + answer.usage
            self.messages.append(
                conversation.AgentMessage(
                    role="assistant", content=answer.text, tool_calls=answer.tool_calls
                )
            )
            record: dict[str, Any] = {
                "turn": turn,
                "answered_by": answered,
                "model": answer.model,
                "finish_reason": answer.finish_reason,
                "usage": answer.usage.model_dump(),
                "text": answer.text,
                "tool_calls": [],
            }
            self.turns.append(record)
            if answer.text:
                last_text = answer.text
            if not answer.tool_calls:
                return self._finish(answer.text)
            if turn == limit:
                break  # no turn is left to read the results: run no tool for nothing
            results = await asyncio.gather(*(self._call(c, turn) for c in answer.tool_calls))
            for result in results:
                record["tool_calls"].append(
                    {
                        "id": result.call.id,
                        "name": result.call.name,
                        "arguments": result.arguments,
                        "result": result.value,
                        "is_error": result.is_error,
                    }
                )
                self.messages.append(
                    conversation.AgentMessage(
                        role="tool",
                        content=result.content,
                        tool_call_id=result.call.id,
                        name=result.call.name,
                        is_error=result.is_error,
                    )
                )
                if result.is_error and result.counts:
                    self.errors += 1
                    self.last_error = f"`{result.call.name}`: {result.content}"
            if self.errors >= step.max_tool_errors:
                raise StepFailure(
                    f"{self.errors} tool errors reached max_tool_errors ({step.max_tool_errors});"
                    f" the last: {self.last_error}"
                )
        if step.on_max_turns == "return_last":
            return self._finish(last_text, note=f"max_turns ({step.max_turns}) reached")
        raise StepFailure(
            f"no final answer after max_turns ({step.max_turns}): the model was still calling "
            "tools; raise `max_turns` or set `on_max_turns: return_last`"
        )

    async def _turn(self, turn: int) -> tuple[conversation.AgentTurn, dict[str, Any]]:
        """One model turn, down the step's fallback chain: the answer, and who gave it
        (the models left before it, and why). Usage of failed entries is counted."""
        step, d = self.step, self.defaults
        request = self._request(turn)
        primary = ActivityCall(
            ACTIVITY_AGENT_TURN,
            request,
            heartbeat="per_chunk" if step.stream else "while_waiting",
            provider=request.step.provider,
            model=request.step.model,
            summary=f"agent turn {turn}",
        )

        def payload_for(provider: str, model: str, jitter: bool) -> Any:
            update = {"provider": provider, "model": model, "jitter": jitter}
            return request.model_copy(update={"step": request.step.model_copy(update=update)})

        chain = fallback_chain(
            primary,
            step.fallback if step.fallback is not None else d.fallback or [],
            step.fallback_on or d.fallback_on or code_defaults.FALLBACK_ON,
            payload_for=payload_for,
            word=f"agent turn {turn}",
            retry=self.retry,
        )
        try:
            walked = await self.runtime.walk(
                chain,
                summary=f"agent turn {turn}",
                timeout=self.timeout,
                retry=self.retry,
                result_type=conversation.AgentTurn,
            )
        except Exception as exc:  # the turn failed after its retries (and fallbacks)
            spent = getattr(exc, "usage", None)  # replies a model got wrong, if any
            raise StepFailure(
                f"agent turn {turn} failed: {cause_message(exc)}",
                usage=spent if isinstance(spent, Usage) else None,
            ) from None
        self.usage = self.usage + walked.spent
        answered = {
            "provider": walked.call.provider,
            "model": walked.call.model,
            "skipped": [s.model_dump() for s in walked.skipped],
        }
        answer: conversation.AgentTurn = walked.result
        return answer, answered

    def _finish(self, text: str, note: str = "") -> StepOutcome:
        output: Any = text
        if self.step.response_format != "text" and not note:
            try:
                output = json.loads(text)
            except ValueError as exc:
                raise StepFailure(f"the final answer is not JSON ({exc}): {text[:200]!r}") from None
        return StepOutcome(
            output=output, usage=self.usage, attempt=0, transcript=self._transcript(), note=note
        )

    def _transcript(self) -> dict[str, Any]:
        transcript: dict[str, Any] = {
            "messages": [m.model_dump(exclude_defaults=True) for m in self.messages],
            "turns": self.turns,
        }
        if self.system:
            transcript["system"] = self.system
        return transcript

    async def _call(self, call: conversation.ToolCall, turn: int) -> _Result:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(f"`{n}`" for n in self.tools) or "none"
            return _Result(
                call, call.arguments, f"unknown tool `{call.name}`; the tools: {known}", True
            )
        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError as exc:
            return _Result(call, call.arguments, f"the arguments are not valid JSON: {exc}", True)
        if not isinstance(arguments, dict):
            return _Result(call, arguments, "the arguments must be a JSON object", True)
        problem = _schema_problem(arguments, tool.spec.parameters)
        if problem:
            return _Result(call, arguments, f"invalid arguments: {problem}", True)
        if tool.how.approval == "required":
            async with self._approvals:
                shown = json.dumps(arguments, ensure_ascii=False)
                decision = await self.runtime.decision(
                    f"tool `{call.name}` with {shown} (turn {turn})", None
                )
            assert decision is not None  # no timeout: it waits for a person
            if not decision.approved:
                said = f"rejected by {decision.by or 'a person'}: {decision.comment or ''}"
                return _Result(call, arguments, said.rstrip(": "), True, counts=False)
        # imported here: step modules load for `validate`, which must not pay for temporalio
        from temporalio.exceptions import FailureError

        label = f"{self.runtime.label} · tool {call.name} (turn {turn})"
        try:
            value = await self._run_tool(tool, call, arguments, turn, label)
        except FailureError as exc:
            return _Result(call, arguments, f"the tool failed: {cause_message(exc)}", True)
        return _Result(call, arguments, value)

    async def _run_tool(
        self,
        tool: Resolved,
        call: conversation.ToolCall,
        arguments: dict[str, Any],
        turn: int,
        label: str,
    ) -> Any:
        how, runtime = tool.how, self.runtime
        if isinstance(how, WorkflowTool):
            assert tool.definition is not None
            request = RunInput(
                definition=tool.definition,
                inputs=arguments,
                offline=runtime.facts.offline,
                library={ref: dict(d) for ref, d in (tool.library or {}).items()},
            )
            suffix = f"/turn{turn}/{_safe_id(call.id)}"
            result = await runtime.child(request, suffix=suffix, label=label)
            self.usage = self.usage + result.usage
            return result.outputs
        if isinstance(how, McpTool):
            mcp = McpCall(
                id=self.step.id,
                jitter=self.retry.jitter,
                server=how.mcp,
                tool=tool.mcp_name or call.name,  # the server's name, which may not be safe
                arguments=arguments,
            )
            facts = runtime.facts
            outcome: StepOutcome = await runtime.activity(
                ACTIVITY_MCP,
                McpRequest(step=mcp, workflow_id=facts.workflow_id, run_id=facts.run_id),
                summary=label,
                timeout=self.timeout,
                retry=self.retry,
                result_type=StepOutcome,
            )
            return outcome.output
        # a custom activity: its argument is the arguments object, its result its own
        return await runtime.activity(
            how.activity,
            arguments,
            summary=label,
            timeout=self.timeout,
            retry=self.retry,
            heartbeat=None,
        )


def _some(usage: Usage) -> Usage | None:
    """``None`` for no usage at all (nothing to charge)."""
    return usage if usage != Usage() else None


def _schema_problem(arguments: dict[str, Any], schema: Mapping[str, Any]) -> str | None:
    """The first way ``arguments`` fail ``schema`` (where, and what), or ``None``.

    References resolve only within the schema: an empty registry, so a remote ``$ref``
    is never fetched (this runs in the workflow, which must do no I/O)."""
    # here: ~35 ms to import, which checking a file (`validate`) does not need
    import jsonschema
    import referencing
    import referencing.exceptions

    try:
        validator = jsonschema.Draft202012Validator(schema, registry=referencing.Registry())
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    except (
        jsonschema.exceptions.SchemaError,
        jsonschema.exceptions.UnknownType,
        referencing.exceptions.Unresolvable,
    ) as exc:
        return f"the tool's parameters schema cannot be used: {exc}"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message}" + (f" (at `{where}`)" if where else "")


_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _safe_id(call_id: str) -> str:
    return _SAFE.sub("_", call_id)[:64] or "call"


class _AgentKind(AsyncKind[AgentStep]):
    model = AgentStep
    templated = ("prompt", "system", "messages")
    shape: Shape = "task"
    record_fields = ("transcript",)

    def summary(self, step: AgentStep, defaults: Defaults) -> str:
        provider = step.provider or defaults.provider or "default"
        return f"agent {provider}/{step.model or defaults.model or 'default'}"

    def check(self, step: AgentStep, loc: Loc, report: Report) -> None:
        if isinstance(step.cache, CacheOptions) and step.cache.key is not None:
            report(
                (*loc, "cache", "key"),
                f"step `{step.id}`: an agent's cache is keyed by each turn's conversation; "
                "one `key` cannot name every turn",
                hint="drop `key` (use `cache: true` or `cache: {ttl: ...}`)",
            )
        if step.max_turns is None:
            report(
                loc,
                f"step `{step.id}`: `max_turns` is required",
                hint="bound the conversation, e.g. `max_turns: 8` (model turns)",
            )
        elif step.max_turns < 1:
            report(
                (*loc, "max_turns"),
                f"step `{step.id}`: `max_turns` must be at least 1 (got {step.max_turns})",
                hint="an agent needs one model turn to answer, more to use its tools",
            )
        seen: dict[str, int] = {}
        for i, entry in enumerate(step.tools):
            if isinstance(entry, McpTool):
                continue  # its names come from the server, at run time
            name = entry.tool
            if isinstance(entry, ActivityTool) and model_safe(name) != name:
                report(
                    (*loc, "tools", i, "activity"),
                    f"step `{step.id}`: tool {i + 1}: activity `{name}` cannot be a tool name"
                    " (models accept letters, digits, `_` and `-`, at most 64)",
                    hint=f"give it a `name:`, e.g. `name: {model_safe(name)}`",
                )
            if name in seen:
                report(
                    (*loc, "tools", i),
                    f"step `{step.id}`: two tools are named `{name}`"
                    f" (tools {seen[name] + 1} and {i + 1})",
                    hint="give one of them another `name:`",
                )
            seen.setdefault(name, i)

    async def run(
        self, step: AgentStep, rendered: Mapping[str, Any], runtime: Runtime
    ) -> StepOutcome:
        defaults = runtime.facts.defaults
        tools = await resolve_tools(
            step.tools,
            runtime,
            timeout=timeout_of(step, defaults),
            retry=retry_of(step, defaults),
        )
        return await _Loop(step, rendered, runtime, tools).run()


KIND = _AgentKind()
