"""``python -m llm_orchestrator``: the `llm-orchestrator` command."""

from llm_orchestrator.cli import main

main()
