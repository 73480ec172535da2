"""The `http` action against real loopback servers: ports, addresses, headers, redirects."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import ActivitySettings
from activities._allowlist import AllowList, NotAllowed
from activities.action import ActionActivities
from interpreter.errors import ERROR_ACTION_NOT_ALLOWED
from interpreter.steps.action import ActionCall, ActionRequest
from tests.conftest import EXAMPLES
from tests.helpers.net import serve_http


class _Hook(BaseHTTPRequestHandler):
    """/ok answers 200; /moved redirects to /ok; /away to the URL in `?to=`; /loop to itself."""

    seen: ClassVar[list[tuple[str, str, str]]] = []

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append((self.command, self.path, self.headers.get("Host", "")))
        path, _, query = self.path.partition("?")
        if path == "/ok":
            self.send_response(200)
            body = json.dumps({"ok": True, "method": self.command}).encode()
            self.send_header("Content-Type", "application/json")
        else:
            location = {"/moved": "/ok", "/loop": "/loop"}.get(path, query.removeprefix("to="))
            self.send_response(302)
            self.send_header("Location", location)
            body = b"moved"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    """Two loopback webhook servers: the allowed one and another port of the same host."""
    _Hook.seen.clear()
    with serve_http(_Hook) as allowed, serve_http(_Hook) as other:
        yield urlsplit(allowed).port, urlsplit(other).port


async def _call(
    allow: set[str], params: dict[str, Any], networks: frozenset[str] = frozenset()
) -> Any:
    settings = ActivitySettings(
        catalog_dir=EXAMPLES,
        http_allowed_hosts=frozenset(allow),
        http_allowed_networks=networks,
    )
    request = ActionRequest(step=ActionCall(id="hook", action="http", params=params))
    async with httpx.AsyncClient(follow_redirects=False) as client:
        outcome = await ActivityEnvironment().run(ActionActivities(settings, client).run, request)
    return outcome.output


async def _refused(allow: set[str], params: dict[str, Any], **kwargs: Any) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        await _call(allow, params, **kwargs)
    assert info.value.non_retryable
    return info.value


async def test_an_entry_with_a_port_allows_that_port_only(ports: tuple[int, int]) -> None:
    ok, other = ports
    allow = {f"127.0.0.1:{ok}"}
    assert (await _call(allow, {"url": f"http://127.0.0.1:{ok}/ok"}))["status"] == 200
    error = await _refused(allow, {"url": f"http://127.0.0.1:{other}/ok"})
    assert error.type == ERROR_ACTION_NOT_ALLOWED
    assert f"`127.0.0.1:{other}` is not allowed" in error.message
    assert "LLM_ORCHESTRATOR_HTTP_ALLOW" in error.message
    assert [path for _, path, _ in _Hook.seen] == ["/ok"]  # the other port saw nothing


async def test_a_bare_host_entry_allows_only_the_default_ports(ports: tuple[int, int]) -> None:
    error = await _refused({"127.0.0.1"}, {"url": f"http://127.0.0.1:{ports[0]}/ok"})
    assert f"add `127.0.0.1:{ports[0]}`" in error.message
    assert not _Hook.seen


async def test_a_name_that_resolves_to_loopback_needs_its_network_allowed(
    ports: tuple[int, int],
) -> None:
    ok = ports[0]
    allow, url = {f"localhost:{ok}"}, f"http://localhost:{ok}/ok"
    error = await _refused(allow, {"url": url})
    assert "resolves to 127.0.0.1, not a public address" in error.message
    assert "LLM_ORCHESTRATOR_HTTP_ALLOW_NETWORKS" in error.message
    assert not _Hook.seen
    output = await _call(allow, {"url": url}, networks=frozenset({"127.0.0.0/8"}))
    assert output["status"] == 200
    # the name still reaches the server, as the Host header
    assert _Hook.seen == [("POST", "/ok", f"localhost:{ok}")]


async def test_the_checked_address_is_the_one_connected_to() -> None:
    allow = AllowList.parse(["localhost:8080"], ["127.0.0.0/8"])
    target = await allow.check("https://localhost:8080/hook?x=1")
    assert target.url == "https://127.0.0.1:8080/hook?x=1"
    assert (target.host_header, target.sni_hostname) == ("localhost:8080", "localhost")
    literal = await AllowList.parse(["[::1]:9000"]).check("http://[::1]:9000/")
    assert literal.url == "http://[::1]:9000/"
    with pytest.raises(NotAllowed, match="not a public address"):
        await AllowList.parse(["localhost"]).check("http://localhost/")
    with pytest.raises(NotAllowed, match="not an http or https URL"):
        await AllowList.parse(["localhost"]).check("file:///etc/passwd")
    with pytest.raises(ValueError, match="not `host` or `host:port`"):
        AllowList.parse(["hooks.example.com:http"])
    with pytest.raises(ValueError, match="not a network"):
        AllowList.parse([], ["10.0.0.0/33"])


async def test_the_host_header_cannot_be_set(ports: tuple[int, int]) -> None:
    ok = ports[0]
    params = {"url": f"http://127.0.0.1:{ok}/ok", "headers": {"host": "temporal.internal"}}
    error = await _refused({f"127.0.0.1:{ok}"}, params)
    assert "the `Host` header cannot be set" in error.message
    assert not _Hook.seen


async def test_a_redirect_is_a_failure_unless_following_is_asked_for(
    ports: tuple[int, int],
) -> None:
    ok = ports[0]
    allow, url = {f"127.0.0.1:{ok}"}, f"http://127.0.0.1:{ok}/moved"
    error = await _refused(allow, {"url": url})
    assert "answered 302 (redirect to /ok; set `follow_redirects: true`" in error.message
    output = await _call(allow, {"url": url, "follow_redirects": True})
    assert output == {"status": 200, "body": {"ok": True, "method": "GET"}}  # 302 POST → GET
    assert [path for _, path, _ in _Hook.seen] == ["/moved", "/moved", "/ok"]


async def test_every_redirect_hop_is_checked_and_hops_are_bounded(
    ports: tuple[int, int],
) -> None:
    ok, other = ports
    allow = {f"127.0.0.1:{ok}"}
    away = f"http://127.0.0.1:{ok}/away?to=http://127.0.0.1:{other}/ok"
    error = await _refused(allow, {"url": away, "follow_redirects": True})
    assert f"`127.0.0.1:{other}` is not allowed" in error.message
    assert [path for _, path, _ in _Hook.seen] == [f"/away?to=http://127.0.0.1:{other}/ok"]
    error = await _refused(allow, {"url": f"http://127.0.0.1:{ok}/loop", "follow_redirects": True})
    assert "more than 5 redirects" in error.message


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` (its own CA): cert file, key file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_to_the_checked_address_still_verifies_the_name(tmp_path: Path) -> None:
    _Hook.seen.clear()
    cert_file, key_file = _certificate(tmp_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    settings = ActivitySettings(
        catalog_dir=EXAMPLES,
        http_allowed_hosts=frozenset({f"localhost:{port}"}),
        http_allowed_networks=frozenset({"127.0.0.0/8"}),
    )
    request = ActionRequest(
        step=ActionCall(id="hook", action="http", params={"url": f"https://localhost:{port}/ok"})
    )
    trust = ssl.create_default_context(cafile=str(cert_file))
    try:
        async with httpx.AsyncClient(verify=trust) as client:
            outcome = await ActivityEnvironment().run(
                ActionActivities(settings, client).run, request
            )
    finally:
        server.shutdown()
        server.server_close()
    # connected to 127.0.0.1, yet TLS verified the certificate against `localhost`
    assert outcome.output["status"] == 200
    assert _Hook.seen == [("POST", "/ok", f"localhost:{port}")]
