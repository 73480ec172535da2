"""`llm-orchestrator estimate` and `validate --estimate`: worst-case tokens and dollars.

The totals of two examples are recomputed here by hand from the file, the inputs and
the price table, with the rules docs/cli.md states (characters / 4 rounded up, every
attempt billed, repair turn k resending the prompt plus k replies and k 100-token
asks), not with the estimator's own helpers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.providers.prices import DEFAULT_PRICES
from llm_orchestrator.cli import main

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _estimate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def _usd(model: str, tokens_in: int, tokens_out: int) -> float:
    price = DEFAULT_PRICES[model]
    return (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1e6


def _example(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text())
    inputs = json.loads((ROOT / "examples" / f"{name}.input.json").read_text())
    return doc, inputs


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_estimate_prints_a_table_for_every_example(
    capsys: pytest.CaptureFixture[str], example: Path
) -> None:
    given = example.with_suffix(".input.json")
    code, out, _ = _estimate(capsys, str(example), "-i", f"@{given}")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:4] == ["step", "type", "model", "calls"]
    rows = lines[3 : lines.index(next(x for x in lines if x.startswith("total"))) - 1]
    total = next(line for line in lines if line.startswith("total"))
    # the total is the sum of the rows (each shown to 6 decimals)
    assert re_dollars(total) == pytest.approx(sum(re_dollars(r) for r in rows), abs=1e-5)
    assert int(total.split()[1]) == sum(int(r.split()[3]) for r in rows)


def re_dollars(line: str) -> float:
    return float(line.split("$", 1)[1].split()[0])


def test_content_moderation_total_recomputed_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    doc, inputs = _example("content-moderation")
    steps = {s["id"]: s for s in doc["steps"]}
    block = next(s for s in steps["route"]["branches"]["block"] if s["id"] == "explain_block")
    attempts = 3  # no retry in the file: the code's default policy
    # Jinja drops a block scalar's one trailing newline when it renders
    classify = steps["classify"]["prompt"].replace("{{ inputs.content }}", inputs["content"])
    explain = block["prompt"].replace("{{ inputs.content }}", inputs["content"])
    p1, p2 = _tokens(classify.removesuffix("\n")), _tokens(explain.removesuffix("\n"))
    # classify: JSON schema → 2 repair turns; turn k resends the prompt, k replies, k asks
    out1 = steps["classify"]["max_tokens"]
    in1 = attempts * (p1 + (p1 + out1 + 100) + (p1 + 2 * (out1 + 100)))
    out1_all = attempts * 3 * out1
    # explain_block (a branch case: counted though only one case runs)
    in2, out2_all = attempts * p2, attempts * block["max_tokens"]
    usd = _usd("gpt-4o-mini", in1, out1_all) + _usd("claude-3-5-haiku", in2, out2_all)

    code, out, _ = _estimate(
        capsys,
        str(ROOT / "examples/content-moderation.yaml"),
        "--input",
        f"@{ROOT / 'examples/content-moderation.input.json'}",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["total"]["input_tokens"] == in1 + in2
    assert data["total"]["output_tokens"] == out1_all + out2_all
    assert data["total"]["usd"] == pytest.approx(usd, rel=1e-9)
    assert [s["step"] for s in data["steps"]] == ["classify", "explain_block"]


def test_research_brief_total_recomputed_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    doc, inputs = _example("research-brief")
    total_in = total_out = 0
    for step in doc["steps"][0]["steps"]:  # the three llm steps of `analyse`
        prompt = step["prompt"]
        for name, value in inputs.items():
            prompt = prompt.replace("{{ inputs." + name + " }}", value)
        total_in += 3 * _tokens(prompt)
        total_out += 3 * step["max_tokens"]
    usd = _usd("gpt-4o-mini", total_in, total_out)

    code, out, _ = _estimate(
        capsys,
        str(ROOT / "examples/research-brief.yaml"),
        "-i",
        f"@{ROOT / 'examples/research-brief.input.json'}",
    )
    assert code == 0
    total = next(line for line in out.splitlines() if line.startswith("total"))
    cells = total.split()
    assert cells[1:4] == ["9", str(total_in), str(total_out)]
    assert re_dollars(total) == pytest.approx(usd, abs=5e-7)  # the table shows 6 decimals


def test_map_loop_fallback_and_unknown_values_are_stated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "flow.yaml").write_text(
        """
name: shapes
inputs: {docs: {type: array}}
steps:
  - id: each
    type: map
    items: "{{ inputs.docs }}"
    step: {type: llm, prompt: "Summarize {{ item }}", max_tokens: 10, retry: {max_attempts: 1}}
  - id: again
    type: loop
    depends_on: [each]
    max_iterations: 4
    steps:
      - id: turn
        type: llm
        prompt: "{{ steps.each.output }}"
        max_tokens: 5
        retry: {max_attempts: 2}
        fallback: [{provider: anthropic, model: claude-3-5-haiku-latest}]
  - {id: local, type: llm, model: my-own-model, prompt: hi, depends_on: [again]}
"""
    )
    code, out, err = _estimate(
        capsys, str(tmp_path / "flow.yaml"), "-i", 'docs=["abcd", "abcdefgh"]', "--json"
    )
    assert code == 0, err
    rows = {(r["step"], r["model"]): r for r in json.loads(out)["steps"]}
    each = rows[("each[*].each", "openai/gpt-4o-mini")]
    # two items, each priced as the longest: "Summarize abcdefgh" is 18 chars → 5 tokens
    assert (each["calls"], each["input_tokens"], each["output_tokens"]) == (2, 10, 20)
    assert "× 2 items of `each` (each priced as the longest)" in each["notes"]
    primary = rows[("again#*.turn", "openai/gpt-4o-mini")]
    fallback = rows[("again#*.turn", "anthropic/claude-3-5-haiku-latest")]
    assert primary["calls"] == fallback["calls"] == 4 * 2  # iterations × attempts each
    assert "template text counted (reads run-time values)" in primary["notes"]
    assert fallback["notes"][0] == "fallback 1"
    local = rows[("local", "openai/my-own-model")]
    assert local["usd"] == 0 and local["output_tokens"] == 3 * 4096
    assert "no price for `my-own-model`: $0" in local["notes"]
    assert "no max_tokens: 4096 assumed" in local["notes"]


def test_validate_estimate_adds_the_table_after_ok(capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples/research-brief.yaml"
    code = main(["validate", "--estimate", "--offline", str(example)])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"{example}: ok (research-brief")
    assert "worst case of `research-brief`" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.endswith("$0.000000")  # offline: nothing is priced


def test_an_agent_step_is_priced_turn_by_turn(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "agent.yaml").write_text(
        """
name: agentic
steps:
  - id: helper
    type: agent
    model: gpt-4o-mini
    prompt: abcdefgh
    max_turns: 3
    max_tokens: 10
    retry: {max_attempts: 1}
"""
    )
    code, out, err = _estimate(capsys, str(tmp_path / "agent.yaml"), "--json")
    assert code == 0, err
    (row,) = json.loads(out)["steps"]
    # turn t reads the 2-token prompt, t-1 replies of 10 and t-1 tool results of 100
    assert row["input_tokens"] == 2 + (2 + 110) + (2 + 220)
    assert (row["calls"], row["output_tokens"]) == (3, 30)
    assert row["usd"] == pytest.approx(_usd("gpt-4o-mini", 336, 30))
