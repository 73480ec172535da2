"""`sentiment-analysis.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Workflow

WORKFLOW = (
    Workflow(
        "sentiment-analysis",
        version="1.0",
        description="Analyse the sentiment of a message and write an empathetic reply.",
        defaults={"timeout": "60s", "retry": {"max_attempts": 4, "initial_interval": "2s"}},
    )
    .input("text", type="string", description="The customer's message.")
    .llm(
        "extract_sentiment",
        provider="openai",
        model="gpt-4o-mini",
        system="You are a precise sentiment classifier.",
        prompt=(
            "Analyse the sentiment of the following text:\n"
            "{{ inputs.text }}\n"
            "\n"
            "Return only one word: positive, negative, or neutral\n"
        ),
        temperature=0,
        max_tokens=5,
        mock_response="positive",
        output=["sentiment"],
    )
    .llm(
        "generate_response",
        depends_on=["extract_sentiment"],
        provider="anthropic",
        model="claude-3-5-haiku-latest",
        prompt=(
            "The user's message has {{ steps.extract_sentiment.sentiment | trim }} "
            "sentiment.\n"
            "Write a short, empathetic and helpful reply to:\n"
            "{{ inputs.text }}\n"
        ),
        temperature=0.7,
        max_tokens=200,
        output=["response"],
    )
    .action(
        "log_result",
        depends_on=["generate_response"],
        action="log",
        params={
            "message": "Sentiment: {{ steps.extract_sentiment.sentiment | trim }}; "
            "reply: {{ steps.generate_response.response }}"
        },
    )
    .output("sentiment", "{{ steps.extract_sentiment.sentiment | trim }}")
    .output("response", "{{ steps.generate_response.response }}")
)
