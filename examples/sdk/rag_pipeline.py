"""`rag-pipeline.yaml` built with the Python SDK.

tests/llm_orchestrator/test_sdk.py checks that it builds the same workflow as the file.
"""

from llm_orchestrator.sdk import Workflow

WORKFLOW = (
    Workflow(
        "rag-pipeline",
        version="1.0",
        description=("Answer a question from the indexed documents, citing the chunks used."),
    )
    .input("question", type="string")
    .input("top_k", type="integer", required=False, default=3)
    .embed(
        "embed_query",
        provider="openai",
        model="text-embedding-3-small",
        input="{{ inputs.question }}",
        output=["query_vector"],
    )
    .vector_search(
        "search_docs",
        depends_on=["embed_query"],
        database="local",
        index="docs",
        embedder="openai/text-embedding-3-small",
        query="{{ steps.embed_query.query_vector }}",
        top_k=3,
        include_metadata=True,
        output=["results"],
    )
    .llm(
        "generate_answer",
        depends_on=["search_docs"],
        provider="openai",
        model="gpt-4o-mini",
        system=("Answer only from the context. Cite sources as [n] using the numbers given."),
        prompt=(
            "Context:\n"
            "{% for hit in steps.search_docs.results %}\n"
            "[{{ loop.index }}] ({{ hit.metadata.source | default(hit.id) }}) {{ "
            "hit.text }}\n"
            "{% endfor %}\n"
            "\n"
            "Question: {{ inputs.question }}\n"
        ),
        temperature=0.2,
        max_tokens=400,
        output=["answer"],
    )
    .transform(
        "cite",
        depends_on=["search_docs"],
        function="pick",
        inputs="{{ steps.search_docs.results }}",
        params={"fields": ["metadata.source", "metadata.chunk", "score", "id"]},
        output=["citations"],
    )
    .output("answer", "{{ steps.generate_answer.answer }}")
    .output("citations", "{{ steps.cite.citations }}")
)
