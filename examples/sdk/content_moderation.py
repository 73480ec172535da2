"""`content-moderation.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Workflow

WORKFLOW = (
    Workflow(
        "content-moderation",
        version="1.1",
        description="Classify user content and route it to publish, review or block.",
    )
    .input("content", type="string")
    .input("author", type="string", required=False, default="anonymous")
    .llm(
        "classify",
        provider="openai",
        model="gpt-4o-mini",
        prompt=(
            "Classify this content as safe (publish it), review (a person should "
            "look) or\n"
            "block (it must not be published).\n"
            "\n"
            "Content: {{ inputs.content }}\n"
        ),
        temperature=0,
        max_tokens=20,
        response_format={
            "schema": {
                "type": "object",
                "properties": {"label": {"type": "string", "enum": ["safe", "review", "block"]}},
                "required": ["label"],
                "additionalProperties": False,
            }
        },
        mock_response={"label": "safe"},
        output=["classification"],
    )
    .branch(
        "route",
        depends_on=["classify"],
        condition="steps.classify.classification.label",
        branches={
            "safe": [
                {
                    "id": "publish",
                    "type": "action",
                    "action": "publish",
                    "params": {"content": "{{ inputs.content }}", "author": "{{ inputs.author }}"},
                }
            ],
            "review": [
                {
                    "id": "queue_for_review",
                    "type": "action",
                    "action": "queue_review",
                    "params": {"content": "{{ inputs.content }}", "priority": "medium"},
                },
                {
                    "id": "human_review",
                    "type": "approval",
                    "depends_on": ["queue_for_review"],
                    "message": "Publish this content by {{ inputs.author }}? {{ inputs.content }}",
                    "timeout": "24h",
                    "on_timeout": "reject",
                },
                {
                    "id": "publish_reviewed",
                    "type": "action",
                    "depends_on": ["human_review"],
                    "when": "steps.human_review.output.approved",
                    "action": "publish",
                    "params": {
                        "content": "{{ inputs.content }}",
                        "author": "{{ inputs.author }}",
                        "reviewed_by": "{{ steps.human_review.output.by }}",
                    },
                },
            ],
            "block": [
                {
                    "id": "explain_block",
                    "type": "llm",
                    "provider": "anthropic",
                    "model": "claude-3-5-haiku-latest",
                    "prompt": "Politely explain why this content cannot be "
                    "published, and suggest how to rephrase it:\n"
                    "{{ inputs.content }}\n",
                    "max_tokens": 150,
                    "output": ["reason"],
                },
                {
                    "id": "notify_author",
                    "type": "action",
                    "depends_on": ["explain_block"],
                    "action": "send_notification",
                    "params": {
                        "to": "{{ inputs.author }}",
                        "message": "{{ steps.explain_block.reason }}",
                    },
                },
            ],
        },
        default=["queue_for_review", "human_review", "publish_reviewed"],
    )
    .action(
        "record_decision",
        depends_on=["publish", "queue_for_review", "notify_author"],
        trigger_rule="one_success",
        action="log",
        params={
            "message": "moderation of content by {{ inputs.author }}: {{ steps.route.output }}"
        },
    )
    .output("decision", "{{ steps.route.output }}")
)
