"""Recorded runs in a project's own test suite: :func:`check_cassette`, and a pytest plugin.

The plugin (entry point ``pytest11``, enabled wherever llm-orchestrator is installed;
``-p no:llm_orchestrator.testing`` turns it off) collects the ``*.json`` files under
the directories of the ``llm_orchestrator_cassettes`` ini option (default
``tests/runs``) as test items, one per cassette, and nothing else: other JSON files
are left alone. Each item replays its cassette as `llm-orchestrator test` does; a
difference fails the item with the same report. The items share one private Temporal
dev server (loopback, headless, a temporary database), started at the first cassette
and stopped at the end of the session.

::

    from llm_orchestrator.testing import check_cassette

    def test_triage_still_behaves():
        report = check_cassette("tests/runs/triage.json")
        assert report.passed, report.text()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the Temporal side is imported when a cassette is checked, not at start-up
    from llm_orchestrator.cassette import CassetteReport
    from llm_orchestrator.devserver import DevServer

__all__ = ["CassetteFile", "CassetteItem", "check_cassette"]

INI = "llm_orchestrator_cassettes"


def check_cassette(
    path: str | Path, *, address: str | None = None, catalog: str | Path | None = None,
    timeout: float = 300.0,
) -> CassetteReport:  # fmt: skip
    """Replay one cassette and return its report (``report.passed``, ``report.text()``).

    ``address``: a Temporal server to use; by default a private dev server is started
    for the call and stopped after it. ``catalog``: the directory of workflow files for
    a cassette whose source is a catalog name (default: as the worker's).
    """
    if address is not None:
        return _check(address, Path(path), catalog, timeout)
    server = _Server()
    try:
        return _check(server.address(), Path(path), catalog, timeout)
    finally:
        server.stop()


def _check(address: str, path: Path, catalog: str | Path | None, timeout: float) -> CassetteReport:
    """Run the replay on an event loop of its own, in a thread: callers may be inside one
    (an async test) and pytest-asyncio's loop must not be replaced."""

    async def go() -> CassetteReport:
        from activities import ActivitySettings
        from llm_orchestrator.cassette import CassettePlayer
        from llm_orchestrator.connect import connect

        client = await connect(address)
        settings = ActivitySettings.from_env(catalog_dir=Path(catalog) if catalog else None)
        async with CassettePlayer.running(client, settings=settings) as player:
            return await player.check(path, timeout=timeout)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


class _Server:
    """A private dev server on a free loopback port, started when first asked for."""

    def __init__(self) -> None:
        self._server: DevServer | None = None
        self._dir: str | None = None

    def address(self) -> str:
        if self._server is None:
            from llm_orchestrator.devserver import DevServer

            self._dir = tempfile.mkdtemp(prefix="llmo-cassettes-")
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self._server = DevServer(
                port=port, ui_port=None, db_file=Path(self._dir) / "temporal.db"
            ).start()
        return self._server.address

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


# --- the pytest plugin ------------------------------------------------------------------

_SERVER = pytest.StashKey[_Server]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI,
        "directories whose *.json files are llm-orchestrator cassettes, collected as tests",
        type="paths",
        default=["tests/runs"],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SERVER] = _Server()


def pytest_unconfigure(config: pytest.Config) -> None:
    server = config.stash.get(_SERVER, None)
    if server is not None:
        server.stop()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> CassetteFile | None:
    if file_path.suffix != ".json":
        return None
    config = parent.config
    for folder in config.getini(INI):
        root = folder if Path(folder).is_absolute() else config.rootpath / folder
        if file_path.is_relative_to(Path(root)):
            file: CassetteFile = CassetteFile.from_parent(parent, path=file_path)
            return file
    return None


class CassetteFile(pytest.File):
    """A cassette file: one test item."""

    def collect(self) -> Iterator[CassetteItem]:
        yield CassetteItem.from_parent(self, name=self.path.stem)


class CassetteDiffers(Exception):
    """A replay that differed from its recording; the report says how."""

    def __init__(self, report: CassetteReport) -> None:
        super().__init__(report.text())
        self.report = report


class CassetteItem(pytest.Item):
    """Replays one cassette on the session's private dev server."""

    def runtest(self) -> None:
        address = self.config.stash[_SERVER].address()
        report = _check(address, self.path, None, 300.0)
        if not report.passed:
            raise CassetteDiffers(report)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CassetteDiffers):
            return excinfo.value.report.text()
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"cassette {self.name}"
