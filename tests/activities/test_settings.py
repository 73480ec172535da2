"""Settings come from the environment once, and docs/configuration.md lists every one."""

from __future__ import annotations

import re
from pathlib import Path

from activities.providers.config import ProviderSettings, WorkerConfig
from activities.settings import CAPTURE_CONTENT_ENV, ActivitySettings
from interpreter.contract import SINK_ACTIONS

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
SOURCES = [
    *ROOT.joinpath("activities").rglob("*.py"),
    *ROOT.joinpath("llm_orchestrator").glob("*.py"),
]
VARIABLE = re.compile(
    r"\b(?:LLM_ORCHESTRATOR|OTEL|TEMPORAL|XDG)_[A-Z0-9_]*[A-Z0-9]\b|\b[A-Z]+_BASE_URL\b"
)

# the modules that may look at the process environment; everything else gets settings
READERS = {
    "activities/settings.py",  # the worker's settings, read once at start
    "activities/providers/config.py",  # provider endpoints and keys (read_secret)
    "llm_orchestrator/observability.py",  # OTEL_*, once at process start
    "llm_orchestrator/logs.py",  # secret-named variables to mask, once at start
    # the CLI's own (argparse defaults, the dev server's state dir, TEMPORAL_ADDRESS)
    "llm_orchestrator/commands.py",
    "llm_orchestrator/devserver.py",
    "llm_orchestrator/connect.py",
    # where large payloads are kept: the same on every client and worker
    "llm_orchestrator/payload_store.py",
}


def test_only_the_settings_modules_read_the_process_environment() -> None:
    reading = {
        str(path.relative_to(ROOT))
        for path in SOURCES
        if re.search(r"\bos\.environ\b|\bgetenv\(", path.read_text(encoding="utf-8"))
    }
    assert reading <= READERS, sorted(reading - READERS)


def test_every_variable_the_code_names_is_documented() -> None:
    named = {m for path in SOURCES for m in VARIABLE.findall(path.read_text(encoding="utf-8"))}
    named -= {"LLM_ORCHESTRATOR_VECTORSTORE", "OTEL_EXPORTER_OTLP", "OTEL_INSTRUMENTATION_GENAI"}
    named |= {f"LLM_ORCHESTRATOR_{action.upper()}_URL" for action in SINK_ACTIONS}
    missing = sorted(name for name in named if f"`{name}" not in PAGE)
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_every_config_file_key_is_documented() -> None:
    keys = [f"providers.<name>.{f}" for f in ProviderSettings.model_fields]
    keys += [f for f in WorkerConfig.model_fields if f != "providers"]
    missing = [key for key in keys if f"`{key}" not in PAGE]
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_from_env_reads_every_worker_setting(tmp_path: Path) -> None:
    env = {
        "LLM_ORCHESTRATOR_CATALOG": str(tmp_path),
        "LLM_ORCHESTRATOR_HTTP_ALLOW": " Hooks.Example.com, 127.0.0.1:8080 ,",
        "LLM_ORCHESTRATOR_HTTP_ALLOW_NETWORKS": "10.0.0.0/8",
        "LLM_ORCHESTRATOR_NOTIFY_URL": "http://127.0.0.1/n",
        "LLM_ORCHESTRATOR_PUBLISH_URL": "",
        "LLM_ORCHESTRATOR_DOCS": str(tmp_path / "docs"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "LLM_ORCHESTRATOR_VECTORSTORE_TEAM": "local:/srv/team",
        CAPTURE_CONTENT_ENV: "True",
    }
    settings = ActivitySettings.from_env(env)
    assert settings.catalog_dir == tmp_path
    assert settings.http_allowed_hosts == {"hooks.example.com", "127.0.0.1:8080"}
    assert settings.http_allowed_networks == {"10.0.0.0/8"}
    assert settings.sink_urls == {"notify": "http://127.0.0.1/n"}
    assert settings.docs_dir == tmp_path / "docs"
    assert settings.vectors_dir == tmp_path / "state" / "llm-orchestrator" / "vectors"
    assert settings.vector_stores == {"team": "local:/srv/team"}
    assert settings.capture_content is True
    assert settings.env is env
    # flags win; nothing set means the documented defaults
    assert ActivitySettings.from_env(env, catalog_dir="elsewhere").catalog_dir == Path("elsewhere")
    bare = ActivitySettings.from_env({"LLM_ORCHESTRATOR_VECTORS": str(tmp_path)})
    assert (bare.catalog_dir, bare.http_allowed_hosts, bare.sink_urls) == (
        Path("examples"),
        frozenset(),
        {},
    )
    assert bare.vectors_dir == tmp_path and bare.capture_content is False
