"""A loopback server speaking the part of S3's REST API that the payload store uses.

Path-style requests (``/BUCKET/KEY``): ``PUT`` stores an object, ``HEAD`` answers 200
or 404, ``GET`` returns it or S3's ``NoSuchKey`` error. Signatures are not checked;
an unknown bucket answers ``NoSuchBucket`` like S3 does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.net import serve_http

_NO_SUCH = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>%s</Code><Message>not found</Message></Error>"
)


class FakeS3:
    """Objects by (bucket, key), and the requests seen as (method, path)."""

    def __init__(self, buckets: set[str]) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.buckets = buckets
        self.requests: list[tuple[str, str]] = []
        self.url = ""


def _handler(s3: FakeS3) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _target(self) -> tuple[str, str]:
            s3.requests.append((self.command, self.path))
            bucket, _, key = self.path.split("?", 1)[0].lstrip("/").partition("/")
            return bucket, key

        def _send(self, status: int, body: bytes = b"", head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Type", "application/xml" if status >= 400 else "binary")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _missing(self, bucket: str, head: bool) -> bool:
            if bucket not in s3.buckets:
                self._send(404, _NO_SUCH % b"NoSuchBucket", head)
                return True
            return False

        def do_PUT(self) -> None:
            bucket, key = self._target()
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self._missing(bucket, head=False):
                s3.objects[(bucket, key)] = body
                self._send(200)

        def do_HEAD(self) -> None:
            bucket, key = self._target()
            if not self._missing(bucket, head=True):
                data = s3.objects.get((bucket, key))
                self._send(200 if data is not None else 404, data or b"", head=True)

        def do_GET(self) -> None:
            bucket, key = self._target()
            if not self._missing(bucket, head=False):
                data = s3.objects.get((bucket, key))
                if data is None:
                    self._send(404, _NO_SUCH % b"NoSuchKey")
                else:
                    self._send(200, data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def fake_s3(*buckets: str) -> Iterator[FakeS3]:
    """Serve a fake S3 with ``buckets`` on 127.0.0.1; its URL is ``FakeS3.url``."""
    s3 = FakeS3(set(buckets))
    with serve_http(_handler(s3)) as s3.url:
        yield s3
