"""What `run` sends with a run and says about it: pinned child workflows, `--mock`,
offline stand-ins. Real CLI processes against the real Temporal dev server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio.client import Client

from tests.llm_orchestrator.test_run_management import ROOT, _cli

CHILD = """\
name: child
inputs:
  who: {type: string}
steps:
  - id: hello
    type: transform
    template: "hello {{ inputs.who }}"
outputs:
  greeting: "{{ steps.hello.output }}"
"""

PARENT = """\
name: parent
steps:
  - id: kid
    type: workflow
    workflow: child.yaml
    inputs: {who: ana}
outputs:
  said: "{{ steps.kid.output.greeting }}"
"""


def _queue() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_run_pins_the_child_workflow_a_file_names(tmp_path: Path, client: Client) -> None:
    (tmp_path / "child.yaml").write_text(CHILD, encoding="utf-8")
    (tmp_path / "parent.yaml").write_text(PARENT, encoding="utf-8")
    address = client.service_client.config.target_host
    # no catalog holds child.yaml: only the definition sent with the run can serve the step
    result = _cli(tmp_path, "run", str(tmp_path / "parent.yaml"), "--json",
                  "--address", address, "--task-queue", _queue())  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outputs"] == {"said": "hello ana"}
