"""`support-triage.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Workflow

WORKFLOW = (
    Workflow(
        "support-triage",
        version="1.0",
        description=(
            "Route a ticket by urgency; urgent ones page on-call, others get a drafted reply."
        ),
    )
    .input("ticket", type="string")
    .input("customer_tier", type="string", required=False, default="standard")
    .llm(
        "assess",
        provider="openai",
        model="gpt-4o-mini",
        prompt=(
            'Is this support ticket urgent? Answer "urgent" or "normal".\n'
            "Customer tier: {{ inputs.customer_tier }}\n"
            "Ticket: {{ inputs.ticket }}\n"
        ),
        max_tokens=3,
        mock_response="normal",
        output=["urgency"],
    )
    .branch(
        "pick_path",
        depends_on=["assess"],
        condition=(
            "'urgent' if (steps.assess.urgency | trim | lower) == 'urgent' or "
            "inputs.customer_tier == 'enterprise' else 'normal'"
        ),
        branches={"urgent": ["page_oncall"], "normal": ["draft_reply"]},
        default=["draft_reply"],
    )
    .action(
        "page_oncall",
        action="send_notification",
        params={"channel": "oncall", "message": "Urgent ticket: {{ inputs.ticket }}"},
    )
    .llm(
        "draft_reply",
        provider="openai",
        model="gpt-4o-mini",
        prompt="Draft a friendly first reply to this ticket:\n{{ inputs.ticket }}",
        max_tokens=200,
        output=["reply"],
    )
    .transform(
        "summarise",
        depends_on=["page_oncall", "draft_reply"],
        trigger_rule="one_success",
        template=(
            "{{ 'paged on-call' if steps.page_oncall.status == 'completed' else "
            "'reply drafted' }} for a {{ inputs.customer_tier }} customer"
        ),
        output=["summary"],
    )
    .action(
        "audit",
        depends_on=["summarise"],
        trigger_rule="all_done",
        action="log",
        params={"message": "triage finished: {{ steps.summarise.summary }}"},
    )
    .output("path", "{{ steps.pick_path.output }}")
    .output("summary", "{{ steps.summarise.summary }}")
    .output(
        "reply",
        ("{{ steps.draft_reply.reply if steps.draft_reply.status == 'completed' else '' }}"),
    )
)
