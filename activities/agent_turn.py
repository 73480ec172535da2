"""One model turn of an `agent` step: the conversation so far in, a final text or tool
calls out.

The workflow runs the loop (tools, approvals, the transcript); this activity only asks
the model, so a crash mid-conversation resumes without paying again for the turns
already in the history. It shares the `llm` step's provider registry, error
classification, telemetry and pricing; each provider maps the neutral conversation of
``interpreter.conversation`` to its own wire format (``complete_turn``).
"""

from __future__ import annotations

from temporalio import activity

from activities._failures import classified
from activities.cache.steps import StepCacheUse, cached
from activities.model_steps import priced_usage
from activities.providers.estimate import conversation_text
from activities.providers.registry import Providers
from activities.telemetry import provider_call
from interpreter.contract import ACTIVITY_AGENT_TURN
from interpreter.conversation import AgentTurn, AgentTurnRequest

__all__ = ["AgentTurnActivities"]


class AgentTurnActivities:
    """The `agent` step's model-turn activity, on the worker's shared providers."""

    def __init__(self, providers: Providers, step_cache: StepCacheUse | None = None) -> None:
        self._providers = providers
        self.step_cache = step_cache or StepCacheUse(None)

    @activity.defn(name=ACTIVITY_AGENT_TURN)
    @cached("agent", AgentTurn)  # outside `classified`: what it keeps is the redacted turn
    @classified
    async def turn(self, request: AgentTurnRequest) -> AgentTurn:
        call = request.step
        provider = self._providers.chat(call.id, call.provider, offline=request.offline)
        with provider_call(provider, "chat", model=call.model) as span:
            reply = await provider.complete_turn(call)
            written = reply.text + "".join(c.name + c.arguments for c in reply.tool_calls)
            usage = priced_usage(
                self._providers,
                reply.model,
                reply.input_tokens,
                reply.output_tokens,
                request.offline,
                read=conversation_text(call),
                written=written,
            )
            span.answered(
                reply.model,
                usage,
                finish_reason=reply.finish_reason,
                response_id=reply.metadata.get("id"),
                text=reply.text,
            )
        return AgentTurn(
            text=reply.text,
            tool_calls=reply.tool_calls,
            model=reply.model,
            finish_reason=reply.finish_reason,
            usage=usage,
            attempt=activity.info().attempt,
        )
