"""`research-brief.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Steps, Workflow

WORKFLOW = (
    Workflow(
        "research-brief",
        version="1.0",
        description=(
            "Summarise, extract keywords and assess risk of a document in parallel, then merge."
        ),
        defaults={"provider": "openai", "model": "gpt-4o-mini", "timeout": "2m"},
    )
    .input("document", type="string")
    .input("audience", type="string", required=False, default="engineering leadership")
    .parallel(
        "analyse",
        max_concurrency=2,
        steps=(
            Steps()
            .llm(
                "summary",
                prompt=(
                    "Summarise for {{ inputs.audience }} in three sentences:\n{{ inputs.document }}"
                ),
                max_tokens=200,
                output=["text"],
            )
            .llm(
                "keywords",
                prompt=("List five keywords, comma separated, for:\n{{ inputs.document }}"),
                max_tokens=50,
                mock_response="temporal, durability, llm, workflows, retries",
                output=["text"],
            )
            .llm(
                "risks",
                prompt="Name the main risk in one sentence:\n{{ inputs.document }}",
                max_tokens=80,
                output=["text"],
            )
        ),
    )
    .transform(
        "keyword_list",
        depends_on=["analyse"],
        function="split",
        inputs="{{ steps.keywords.text }}",
        params={"separator": ","},
        output=["items"],
    )
    .transform(
        "brief",
        depends_on=["analyse", "keyword_list"],
        function="merge",
        inputs=[
            {"summary": "{{ steps.summary.text }}"},
            {"risk": "{{ steps.risks.text }}"},
            {"keywords": "{{ steps.keyword_list.items }}"},
        ],
        output=["document"],
    )
    .transform(
        "headline",
        depends_on=["brief"],
        template=(
            "Brief for {{ inputs.audience }} ({{ steps.brief.document.keywords | "
            "length }} keywords)"
        ),
        output=["text"],
    )
    .output("brief", "{{ steps.brief.document }}")
    .output("headline", "{{ steps.headline.text }}")
)
