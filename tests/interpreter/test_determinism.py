"""`DagWorkflow` runs without the workflow sandbox: these checks guard its determinism.

The sandbox would have refused, at run time, a clock, randomness or I/O reached from
workflow code. Instead, the code that can run in the workflow (every module
``interpreter.workflow`` imports, transitively, within ``interpreter``) is read here
(its AST): it may import no module that does I/O, keeps time or draws random numbers,
beyond the few explained below, and it may call no clock or random source. The replay
of recorded histories (tests/replay) checks the rest. See docs/runtime.md,
"Determinism without the sandbox".
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from interpreter import definition_cache
from interpreter.dag import Dag
from interpreter.loader import load_definition
from interpreter.models import WorkflowDefinition
from interpreter.scheduler import Scheduler, Status
from tests.helpers.runs import start_run

ROOT = Path(__file__).parents[2]
ENTRY = "interpreter.workflow"
OURS = "interpreter"

FORBIDDEN_MODULES = frozenset(
    {
        # clocks and randomness
        "time", "random", "secrets", "uuid",
        # I/O, processes and threads
        "os", "io", "pathlib", "shutil", "tempfile", "glob", "socket", "ssl", "select",
        "selectors", "subprocess", "multiprocessing", "threading", "concurrent", "signal",
        "sqlite3", "http", "urllib", "logging",
        # our side effects and network clients
        "activities", "llm_orchestrator", "httpx", "requests", "aiohttp",
    }
)  # fmt: skip
ALLOWED_IMPORTS = {
    ("interpreter.template_limits", "os"): (
        "reads its LLM_ORCHESTRATOR_TEMPLATE_* limits from the environment once, at import; "
        "every worker of a deployment must share them (docs/configuration.md)"
    ),
    ("interpreter.definition_cache", "threading"): (
        "a lock around the LRU of prepared definitions, which runs share: the SDK activates "
        "the workflows of different runs on a thread pool (no thread is started)"
    ),
    ("interpreter.loader", "pathlib"): (
        "`load_file` reads a file for the CLI and the catalog activity; the workflow calls "
        "`load_definition` only (the call check below keeps file reads out of other code)"
    ),
}
THIRD_PARTY = {
    "temporalio": "the workflow API itself (workflow.now, timers, activities), and "
    "contrib.workflow_streams' WorkflowStream (live tokens: handlers and an in-memory log)",
    "pydantic": "the language's and the payloads' models: pure validation",
    "pydantic_core": "pydantic's core: JSON conversion of a transform's output, pure",
    "jinja2": "templates, rendered in Jinja's ImmutableSandboxedEnvironment",
    "yaml": "the loader's YAML parsing (interpreter.source): pure, text in, objects out",
    "jsonschema": "checks a step's `schema` is a valid JSON Schema: pure",
    "referencing": (
        "jsonschema's `$ref` registry; the agent passes an empty one, so nothing is fetched"
    ),
}
FORBIDDEN_CALLS = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
    ("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("time", "perf_counter"),
    ("time", "sleep"), ("asyncio", "sleep"), ("asyncio", "wait_for"),
    ("uuid", "uuid1"), ("uuid", "uuid4"), ("os", "urandom"), ("os", "getenv"),
}  # fmt: skip
"""``a.b(...)`` calls that read a clock or randomness, or sleep on the host loop."""
FILE_METHODS = frozenset({"read_text", "read_bytes", "write_text", "write_bytes", "urandom"})
FORBIDDEN_NAMES = frozenset({"open", "input", "print", "breakpoint"})
ALLOWED_CALLS = {
    ("interpreter.loader", "read_bytes"): "`load_file`, for the CLI (see ALLOWED_IMPORTS)",
}


def _path(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _imports(module: str, tree: ast.Module, is_package: bool) -> set[str]:
    """Every module ``tree`` imports (absolute names; ``from a import b`` gives a and a.b)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_closure(entry: str = ENTRY) -> tuple[dict[str, ast.Module], dict[str, set[str]]]:
    """Our modules reachable from ``entry`` (parsed), and what each imports from outside."""
    modules: dict[str, ast.Module] = {}
    outside: dict[str, set[str]] = {}
    stack = [entry]
    while stack:
        module = stack.pop()
        path = _path(module)
        if module in modules or path is None:
            continue
        tree = ast.parse(path.read_text(), str(path))
        modules[module] = tree
        for name in _imports(module, tree, path.name == "__init__.py"):
            if name.split(".")[0] == OURS:
                stack.append(name)
            else:
                outside.setdefault(module, set()).add(name.split(".")[0])
    return modules, outside


def forbidden_imports(outside: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, names in sorted(outside.items()):
        for name in sorted(names):
            if (module, name) in ALLOWED_IMPORTS:
                continue
            if name in FORBIDDEN_MODULES:
                problems.append(f"{module} imports {name}")
            elif (
                name not in sys.stdlib_module_names
                and name not in THIRD_PARTY
                and name != "__future__"
            ):
                problems.append(f"{module} imports third-party {name}, which is not vetted")
    return problems


def forbidden_calls(module: str, tree: ast.AST) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        where = f"{module}:{node.lineno}"
        if isinstance(func, ast.Name) and func.id in FORBIDDEN_NAMES:
            problems.append(f"{where} calls {func.id}()")
        if not isinstance(func, ast.Attribute):
            continue
        if (module, func.attr) in ALLOWED_CALLS:
            continue
        owner = func.value
        owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if (
            (owner_name, func.attr) in FORBIDDEN_CALLS
            or owner_name == "random"
            or func.attr in FILE_METHODS
        ):
            problems.append(f"{where} calls {owner_name}.{func.attr}()")
    return problems


def test_the_closure_is_the_interpreter_workflow_code() -> None:
    modules, _ = import_closure()
    # the walk must see what the workflow really uses, and nothing the worker adds
    assert {
        "interpreter.workflow",
        "interpreter.scheduler",
        "interpreter.templates",
        "interpreter.runtime",
        "interpreter.definition_cache",
        "interpreter.steps.llm",
    } <= set(modules)
    assert not any(m.startswith(("activities", "llm_orchestrator")) for m in modules)


def test_workflow_code_imports_nothing_with_io_clocks_or_randomness() -> None:
    _, outside = import_closure()
    assert forbidden_imports(outside) == []
    used = {name for names in outside.values() for name in names}
    assert set(THIRD_PARTY) <= used, "an allowance nobody needs any more: drop it"
    assert {m for m, _ in ALLOWED_IMPORTS} <= set(outside)


def test_workflow_code_calls_no_clock_or_random_source() -> None:
    modules, _ = import_closure()
    problems = [p for module, tree in modules.items() for p in forbidden_calls(module, tree)]
    assert problems == []


def test_the_checks_catch_what_they_are_for() -> None:
    source = (
        "import time, random, httpx\n"
        "from datetime import datetime\n"
        "def f(p):\n"
        "    return time.time(), datetime.now(), random.random(), uuid.uuid4(), "
        "open('x'), p.read_text()\n"
    )
    calls = forbidden_calls("interpreter.bad", ast.parse(source))
    assert [c.split(" calls ")[1] for c in calls] == [
        "time.time()",
        "datetime.now()",
        "random.random()",
        "uuid.uuid4()",
        "open()",
        "p.read_text()",
    ]
    names = _imports("interpreter.bad", ast.parse(source), is_package=False)
    problems = forbidden_imports({"interpreter.bad": {n.split(".")[0] for n in names}})
    assert problems == [
        "interpreter.bad imports httpx",
        "interpreter.bad imports random",
        "interpreter.bad imports time",
    ]
    problems = forbidden_imports({"interpreter.bad": {"lancedb"}})
    assert problems == ["interpreter.bad imports third-party lancedb, which is not vetted"]


# --- the definition cache: shared between runs, state is not ---------------------------

_CHAIN: dict[str, Any] = {
    "name": "shared",
    "inputs": {"go": {"type": "boolean"}},
    "steps": [
        {"id": "first", "type": "transform", "template": "a{{ inputs.go }}"},
        {
            "id": "second",
            "type": "transform",
            "template": "{{ steps.first.output }}b",
            "depends_on": ["first"],
            "when": "{{ inputs.go }}",
        },
    ],
    "outputs": {"out": "{{ steps.first.output }}"},
}


def test_a_definition_is_prepared_once_and_its_runs_keep_their_own_state() -> None:
    definition_cache.clear()
    one = definition_cache.from_data(_CHAIN)
    two = definition_cache.from_data(dict(reversed(_CHAIN.items())))  # same, keys reordered
    assert two is one
    assert definition_cache.info() == {"hits": 1, "misses": 1, "entries": 1}
    assert one.summaries == {"first": "transform template", "second": "transform template"}
    assert "first" in one.diagram
    assert isinstance(one.dag, Dag)

    a, b = Scheduler(one.dag), Scheduler(two.dag)
    a.running("first")
    a.complete("first", "A")
    assert a.steps["first"].status is Status.COMPLETED
    assert b.steps["first"].status is Status.PENDING and b.steps["first"].output is None
    assert b.initial().start == ["first"]


def test_a_catalog_definition_is_decoded_once_per_pinned_payload() -> None:
    definition_cache.clear()
    decoded = []

    def decode() -> tuple[WorkflowDefinition, dict[str, dict[str, Any]]]:
        decoded.append(1)
        return load_definition(_CHAIN), {"other": {"name": "other"}}

    one = definition_cache.from_catalog(b'{"definition": ...}', decode)
    two = definition_cache.from_catalog(b'{"definition": ...}', decode)
    three = definition_cache.from_catalog(b'{"definition": ..., "edited": 1}', decode)
    assert two is one and three is not one and len(decoded) == 2
    assert one.library == {"other": {"name": "other"}}


def test_the_cache_is_bounded_and_keyed_by_what_the_body_may_read() -> None:
    definition_cache.clear()
    plain = definition_cache.from_data(_CHAIN)
    with_outer = definition_cache.from_data(_CHAIN, outer=["before"])
    assert with_outer is not plain
    for i in range(definition_cache.MAX_ENTRIES + 5):
        definition_cache.from_data({**_CHAIN, "name": f"n{i}"})
    assert definition_cache.info()["entries"] == definition_cache.MAX_ENTRIES


@pytest.mark.asyncio(loop_scope="session")
async def test_two_runs_of_one_definition_share_no_state(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    definition_cache.clear()
    async with worker_for():
        runs = [
            await start_run(client, task_queue, {"definition": _CHAIN, "inputs": {"go": go}})
            for go in (True, False, True)
        ]
        results = [await handle.result() for handle in runs]
    assert definition_cache.info()["misses"] == 1  # prepared once, shared by the three runs
    assert [r.outputs["out"] for r in results] == ["atrue", "afalse", "atrue"]
    assert [r.steps["second"].status for r in results] == ["completed", "skipped", "completed"]
    assert [r.steps["second"].output for r in results] == ["atrueb", None, "atrueb"]
