"""`lookup-order.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Workflow

WORKFLOW = (
    Workflow(
        "lookup-order",
        version="1.0",
        description=(
            "Find an order by its number and say where it is (a tool of support-agent.yaml)."
        ),
    )
    .input("order", type="string", description="The order number, e.g. A-1001")
    .transform(
        "find",
        template=(
            "{{ {'A-1001': 'shipped on 2026-03-02 with DHL, tracking 00340434161094042557',\n"
            "    'A-1002': 'being packed; it ships tomorrow'}.get(inputs.order, 'no such order') }}"
        ),
    )
    .output("order", "{{ inputs.order }}")
    .output("status", "{{ steps.find.output }}")
)
