"""The offline provider: deterministic answers and embeddings with no network and no keys.

It is honest about what it is: replies start with ``[offline]`` unless the step
gives a ``mock_response``, and usage counts words, not a vendor's tokens. Runs
with ``--offline`` (or ``provider: offline``) use it for every model call.

A prompt that carries numbered context passages (``[1] (source) text``) and a
``Question:`` line gets an extractive answer: the sentence of the passages that
shares the most words with the question, cited as ``[n] (source)``. Otherwise
the reply echoes the prompt's last line.

An `agent` step's turn plays the step's ``mock_turns`` script in order (turn N is
entry N), so agent workflows run and are tested with no keys while their tools
really run; without a script the turn is a final answer echoing the last user
message.
"""

from __future__ import annotations

import hashlib
import json
import math
import re

from activities.providers.base import ChatReply, Embeddings
from interpreter.conversation import AgentTurnCall, MockTurn, ToolCall
from interpreter.errors import StepError
from interpreter.steps.llm import LlmCall

__all__ = ["OFFLINE_DIMENSIONS", "OfflineProvider", "hashed_embedding"]

OFFLINE_DIMENSIONS = 384
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def hashed_embedding(text: str, dimensions: int = OFFLINE_DIMENSIONS) -> list[float]:
    """A deterministic bag-of-words vector: each word hashed to a signed slot, L2-normalised."""
    vector = [0.0] * dimensions
    for word in _words(text):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimensions
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


_PASSAGE = re.compile(r"^\s*\[(\d+)\]\s*(?:\(([^)\n]*)\))?\s*(.*)$")
_QUESTION = re.compile(r"^\s*(?:question|q)\s*:\s*(.+)$", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"(\[…])|\n+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "my",
        "of",
        "on",
        "or",
        "the",
        "this",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in _words(text) if w not in _STOP}


def _extractive_answer(prompt: str) -> str | None:
    """``Based on [n] (source): <the passage sentence closest to the question>``, or
    ``None`` when the prompt has no numbered passages and question."""
    passages: list[tuple[str, str, list[str]]] = []
    question = None
    for line in prompt.splitlines():
        asked = _QUESTION.match(line)
        passage = _PASSAGE.match(line)
        if asked:
            question = asked.group(1).strip()
        elif passage:
            passages.append((passage.group(1), passage.group(2) or "", [passage.group(3)]))
        elif passages and question is None:
            passages[-1][2].append(line)
    if not passages or not question:
        return None
    wanted = _terms(question)
    best: tuple[int, str, str, str] | None = None
    for number, source, lines in passages:
        for sentence in _SENTENCE.split("\n".join(lines)):
            sentence = sentence.strip().lstrip("#…").strip()
            overlap = len(wanted & _terms(sentence))
            if sentence and (best is None or overlap > best[0]):
                best = (overlap, number, source, sentence)
    if best is None or best[0] == 0:
        return f"The context does not answer: {question}"
    _, number, source, sentence = best
    cited = f"[{number}] ({source})" if source else f"[{number}]"
    return f"Based on {cited}: {sentence}"


class OfflineProvider:
    """Chat and embeddings without a network."""

    name = "offline"

    async def complete(self, step: LlmCall) -> ChatReply:
        prompt = "\n".join(
            [step.system or "", *(m.content for m in step.messages), step.prompt or ""]
        )
        if step.mock_response is not None:
            mock = step.mock_response
            text = mock if isinstance(mock, str) else json.dumps(mock)
        else:
            answer = _extractive_answer(prompt)
            if answer is None:
                last = next((line for line in reversed(prompt.splitlines()) if line.strip()), "")
                answer = last.strip()[:200]
            text = f"[offline {step.model}] {answer}"
        words = text.split()
        if step.max_tokens is not None:
            text = " ".join(words[: step.max_tokens]) if len(words) > step.max_tokens else text
        return ChatReply(
            text=text,
            model=f"offline/{step.model}",
            input_tokens=len(prompt.split()),
            output_tokens=len(text.split()),
            finish_reason="stop",
            metadata={"provider": "offline"},
        )

    async def complete_turn(self, call: AgentTurnCall) -> ChatReply:
        """Turn ``call.turn`` of the step's ``mock_turns`` script (a final text or scripted
        tool calls); with no script, a final answer echoing the last user message."""
        read = "\n".join([call.system or "", *(m.content for m in call.messages if m.content)])
        if not call.mock_turns:
            last = next((m.content for m in reversed(call.messages) if m.role == "user"), "")
            text = f"[offline {call.model}] {last.strip()[:200]}"
            return self._turn_reply(call, read, text, [])
        if not 1 <= call.turn <= len(call.mock_turns):
            raise StepError(
                call.id,
                f"mock_turns has {len(call.mock_turns)} turn(s) and the agent asked for turn "
                f"{call.turn}: script another turn, or end the script with a `text:` answer",
            )
        mock = call.mock_turns[call.turn - 1]
        return self._turn_reply(call, read, _mock_text(mock), _mock_calls(call.turn, mock))

    @staticmethod
    def _turn_reply(call: AgentTurnCall, read: str, text: str, calls: list[ToolCall]) -> ChatReply:
        written = text + "".join(c.name + " " + c.arguments for c in calls)
        return ChatReply(
            text=text,
            model=f"offline/{call.model}",
            input_tokens=len(read.split()),
            output_tokens=len(written.split()),
            finish_reason="tool_calls" if calls else "stop",
            metadata={"provider": "offline"},
            tool_calls=calls,
        )

    async def embed(
        self, texts: list[str], *, model: str, dimensions: int | None, pooling: str | None = None
    ) -> Embeddings:
        size = dimensions or OFFLINE_DIMENSIONS
        return Embeddings(
            vectors=[hashed_embedding(t, size) for t in texts],
            model=f"offline/{model}",
            input_tokens=sum(len(t.split()) for t in texts),
        )


def _mock_text(turn: MockTurn) -> str:
    """A scripted turn's text; a mapping or list is the JSON a structured answer would be."""
    if turn.text is None:
        return ""
    return turn.text if isinstance(turn.text, str) else json.dumps(turn.text)


def _mock_calls(turn_number: int, turn: MockTurn) -> list[ToolCall]:
    """A scripted turn's tool calls, with stable ids; raw-string arguments stay as
    written, so a script can play a model that writes invalid JSON."""
    return [
        ToolCall(
            id=f"mock_call_{turn_number}_{i}",
            name=c.name,
            arguments=c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments),
        )
        for i, c in enumerate(turn.tool_calls, start=1)
    ]
