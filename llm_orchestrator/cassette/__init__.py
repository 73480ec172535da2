"""Recorded runs as tests: `record` a finished run as a cassette, `test` replays it offline.

See docs/testing.md. :func:`record_run` reads a run's history into a :class:`Cassette`;
:class:`CassettePlayer` replays cassettes on a worker whose outside calls are answered
from them and returns a :class:`CassetteReport` per cassette.
"""

from llm_orchestrator.cassette.format import Cassette, CassetteError, Source, load, save
from llm_orchestrator.cassette.record import record_run
from llm_orchestrator.cassette.replay import CassettePlayer, CassetteReport

__all__ = [
    "Cassette",
    "CassetteError",
    "CassettePlayer",
    "CassetteReport",
    "Source",
    "load",
    "record_run",
    "save",
]
