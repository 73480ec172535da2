"""The connection profiles shown in docs/deploy.md load as the worker loads them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from temporalio.envconfig import ClientConfig
from temporalio.service import TLSConfig

ROOT = Path(__file__).resolve().parents[2]


def documented_toml() -> str:
    (block,) = re.findall(r"```toml\n(.*?)```", (ROOT / "docs/deploy.md").read_text(), re.S)
    return str(block)


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    # the documented certificate paths, made to exist under tmp_path
    text = documented_toml().replace("/etc/temporal/tls/", f"{tmp_path}/")
    (tmp_path / "client.pem").write_bytes(b"CERT")
    (tmp_path / "client.key").write_bytes(b"KEY")
    config = tmp_path / "temporal.toml"
    config.write_text(text)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    return config


def test_the_default_profile_is_a_plain_cluster(profiles: Path) -> None:
    loaded = ClientConfig.load_client_connect_config()
    assert loaded["target_host"] == "temporal.internal.example:7233"
    assert loaded["namespace"] == "llm"
    assert not loaded.get("tls")


def test_the_mtls_profile_carries_the_client_certificate(
    profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-mtls")
    loaded = ClientConfig.load_client_connect_config()
    assert loaded["target_host"].endswith(".tmprl.cloud:7233")
    tls = loaded["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")


def test_the_api_key_profile_takes_the_key_from_the_environment(
    profiles: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "api_key" not in documented_toml()  # keys stay out of files
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-apikey")
    monkeypatch.setenv("TEMPORAL_API_KEY", "the-key")
    loaded = ClientConfig.load_client_connect_config()
    assert loaded["api_key"] == "the-key"
    assert loaded["tls"] is True
    assert loaded["namespace"] == "llm-prod.a1b2c"
