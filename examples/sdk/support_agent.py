"""`support-agent.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Workflow

WORKFLOW = (
    Workflow(
        "support-agent",
        version="1.0",
        description=(
            "A support agent that answers questions about orders, looking them up through a "
            "workflow tool; runs offline with its scripted `mock_turns`."
        ),
    )
    .input("question", type="string", description="The customer's question")
    .agent(
        "support",
        provider="openai",
        model="gpt-4o-mini",
        system=(
            "You answer questions about orders for an online shop. Look every order up with "
            "the tools; never guess a status."
        ),
        prompt="{{ inputs.question }}",
        max_turns=4,
        tools=[
            {
                "workflow": "lookup-order",
                "description": "Find an order by its number (status, carrier, tracking)",
            }
        ],
        mock_turns=[
            {
                "tool_calls": [
                    {"name": "lookup-order", "arguments": {"order": "A-1001"}},
                    {"name": "lookup-order", "arguments": {"order": "A-1002"}},
                ]
            },
            {
                "text": (
                    "Order A-1001 shipped on 2 March with DHL (tracking 00340434161094042557). "
                    "Order A-1002 is being packed and ships tomorrow."
                )
            },
        ],
        output=["answer"],
    )
    .output("answer", "{{ steps.support.answer }}")
    .output(
        "looked_up",
        "{{ steps.support.transcript.turns[0].tool_calls "
        "| map(attribute='arguments.order') | list }}",
    )
)
