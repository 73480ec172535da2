"""`python worker.py` starts a worker; same as `llm-orchestrator worker`."""

import sys

from llm_orchestrator.cli import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]], exit_process_when_done=True)
