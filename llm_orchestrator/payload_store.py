"""Large payloads live outside Temporal's history: the data converter and its stores.

Temporal refuses any payload over 2 MB and a gRPC message over 4 MB, and a run whose
history cannot take a step's output never completes. Every client and worker
therefore uses :func:`data_converter`: the pydantic converter plus the SDK's
external storage (``temporalio.converter.ExternalStorage``), which replaces each
payload of at least ``LLM_ORCHESTRATOR_PAYLOAD_THRESHOLD`` bytes by a small
reference and keeps the bytes in a store that the client and every worker share.
The threshold is 32 KiB, not the SDK's 256 KiB: a workflow task that starts many
steps at once sends all their inputs in one 4 MB message (docs/payloads.md has
the measurements). The stores:

- a directory (``LLM_ORCHESTRATOR_PAYLOAD_STORE=PATH``; by default ``payloads`` in
  the user's state directory, right for the embedded server and one machine);
- an S3 bucket (``s3://BUCKET``; any S3-compatible service, endpoint and
  credentials from the standard ``AWS_*`` variables), through the SDK's
  ``S3StorageDriver`` (needs the ``s3`` extra: ``temporalio[aioboto3]``).

Stores are content-addressed (SHA-256 of the payload), so a retried step or a
replayed run writes nothing new. Storage happens outside the workflow sandbox, when
the worker encodes a workflow task's commands, so workflow code stays free of I/O
and replays see the same references. A step result over
``LLM_ORCHESTRATOR_PAYLOAD_MAX`` (64 MiB) is refused with a non-retryable
``PayloadTooLarge`` failure that names its size; the step fails at once instead of
paying for retries.
docs/payloads.md is the user's page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.contrib.aws.s3driver import S3StorageDriver, S3StorageDriverClient
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverSelectContext,
    StorageDriverStoreContext,
)
from temporalio.exceptions import ApplicationError

from activities.settings import state_dir
from interpreter.errors import OrchestratorError

__all__ = [
    "ERROR_PAYLOAD_TOO_LARGE",
    "STORE_ENV",
    "FileStorageDriver",
    "PayloadStoreSettings",
    "close_store",
    "data_converter",
]

STORE_ENV = "LLM_ORCHESTRATOR_PAYLOAD_STORE"
THRESHOLD_ENV = "LLM_ORCHESTRATOR_PAYLOAD_THRESHOLD"
MAX_ENV = "LLM_ORCHESTRATOR_PAYLOAD_MAX"
ERROR_PAYLOAD_TOO_LARGE = "PayloadTooLarge"
"""Failure type of a payload that is too big even for the store (never retried)."""

_DEFAULT_THRESHOLD = 32 * 1024
_DEFAULT_MAX = 64 * 1024 * 1024
_OFF = ("off", "none", "inline")
_S3_MAX = 5 * 1024**3
"""S3's own object limit: the store never refuses what the selector let through."""


def _size(text: str | None, default: int, name: str) -> int:
    """Bytes from ``262144``, ``256KiB``, ``64MiB`` or ``1GiB``."""
    if not text or not text.strip():
        return default
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    factor = {"k": 1024, "m": 1024**2, "g": 1024**3}.get(value[-1:], 1)
    digits = value[:-1] if factor > 1 else value
    try:
        size = int(digits.strip()) * factor
    except ValueError:
        raise OrchestratorError(
            f"{name}={text!r} is not a size (bytes, or a number with KiB/MiB/GiB)"
        ) from None
    if size < 0:
        raise OrchestratorError(f"{name}={text!r} must not be negative")
    return size


def _human(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB" if size >= 1024**2 else f"{size / 1024:.0f} KiB"


@dataclasses.dataclass(frozen=True)
class PayloadStoreSettings:
    """Where large payloads go and from which size; the same on clients and workers."""

    store: str
    """A directory, ``s3://BUCKET``, or ``off`` (everything inline, Temporal's limits apply)."""
    threshold: int = _DEFAULT_THRESHOLD
    """Payloads of at least this many bytes are stored outside history."""
    max_size: int = _DEFAULT_MAX
    """Step results over this many bytes are refused (``PayloadTooLarge``, not retried)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PayloadStoreSettings:
        """Read ``LLM_ORCHESTRATOR_PAYLOAD_{STORE,THRESHOLD,MAX}`` (default: the process
        environment); the store defaults to ``payloads`` in the state directory."""
        env = os.environ if env is None else env
        return cls(
            store=env.get(STORE_ENV) or str(state_dir(env) / "payloads"),
            threshold=_size(env.get(THRESHOLD_ENV), _DEFAULT_THRESHOLD, THRESHOLD_ENV),
            max_size=_size(env.get(MAX_ENV), _DEFAULT_MAX, MAX_ENV),
        )


class FileStorageDriver(StorageDriver):
    """Payloads as files named by their SHA-256 in a directory shared by client and workers.

    Writes are atomic (a temporary file renamed into place), so a crashed writer
    never leaves a truncated payload behind, and a file that exists is complete.
    """

    def __init__(self, root: Path) -> None:
        self._root = root

    def name(self) -> str:
        # the name is written into every reference in history: never change it
        return "llm-orchestrator.file"

    def type(self) -> str:
        return "llm-orchestrator.file"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return await asyncio.to_thread(lambda: [self._write(p) for p in payloads])

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        return await asyncio.to_thread(lambda: [self._read(c) for c in claims])

    def _path(self, digest: str) -> Path:
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise ValueError(f"not a payload reference: sha256 {digest!r}")
        return self._root / digest[:2] / digest

    def _write(self, payload: Payload) -> StorageDriverClaim:
        data = payload.SerializeToString()
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StorageDriverClaim({"sha256": digest})

    def _read(self, claim: StorageDriverClaim) -> Payload:
        digest = claim.claim_data.get("sha256", "")
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise OrchestratorError(
                f"stored payload {path} is missing: the client and every worker must share "
                f"one payload store ({STORE_ENV}), and it must keep payloads as long as "
                "Temporal keeps the runs that refer to them"
            ) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise OrchestratorError(f"stored payload {path} is corrupt (its SHA-256 differs)")
        payload = Payload()
        payload.ParseFromString(data)
        return payload


class _LazyS3Client(S3StorageDriverClient):
    """An aioboto3 S3 client opened on first use, on the event loop that uses it.

    ``data_converter`` stays synchronous, and the AWS libraries are imported only
    when an ``s3://`` store is configured (the ``s3`` extra installs them).
    """

    def __init__(self) -> None:
        self._client: S3StorageDriverClient | None = None
        self._s3: Any = None
        self._lock = asyncio.Lock()

    async def _get(self) -> S3StorageDriverClient:
        async with self._lock:
            if self._client is None:
                try:
                    import aioboto3
                    from temporalio.contrib.aws.s3driver.aioboto3 import new_aioboto3_client
                except ImportError as exc:
                    raise OrchestratorError(
                        f"an s3:// {STORE_ENV} needs the s3 extra: "
                        f"pip install 'llm-orchestrator[s3]' ({exc})"
                    ) from None
                # endpoint, region and credentials: the standard AWS_* variables;
                # the client lives as long as the process, like the Temporal client
                self._s3 = await aioboto3.Session().client("s3").__aenter__()
                self._client = new_aioboto3_client(self._s3)
            return self._client

    async def aclose(self) -> None:
        async with self._lock:
            if self._s3 is not None:
                await self._s3.__aexit__(None, None, None)
            self._s3 = self._client = None

    async def put_object(self, *, bucket: str, key: str, data: bytes) -> None:
        await (await self._get()).put_object(bucket=bucket, key=key, data=data)

    async def object_exists(self, *, bucket: str, key: str) -> bool:
        return await (await self._get()).object_exists(bucket=bucket, key=key)

    async def get_object(self, *, bucket: str, key: str) -> bytes:
        return await (await self._get()).get_object(bucket=bucket, key=key)


def _driver(store: str) -> StorageDriver:
    if store.startswith("s3://"):
        bucket = store.removeprefix("s3://").strip("/")
        if not bucket or "/" in bucket:
            raise OrchestratorError(f"{STORE_ENV}={store!r}: write s3://BUCKET (no prefix)")
        return S3StorageDriver(client=_LazyS3Client(), bucket=bucket, max_payload_size=_S3_MAX)
    return FileStorageDriver(Path(store.removeprefix("file://")).expanduser())


async def close_store(converter: DataConverter) -> None:
    """Close what :func:`data_converter` opened (an S3 client; files need nothing).

    Workers keep the store open until the process ends; a process that outlives
    its converter (a test) closes it here.
    """
    storage = converter.external_storage
    for driver in storage.drivers if storage is not None else ():
        client = getattr(driver, "_client", None)
        if isinstance(client, _LazyS3Client):
            await client.aclose()


def data_converter(settings: PayloadStoreSettings | None = None) -> DataConverter:
    """The pydantic data converter with large payloads kept in the configured store."""
    settings = settings or PayloadStoreSettings.from_env()
    if settings.store.strip().lower() in _OFF:
        return pydantic_data_converter
    driver = _driver(settings.store)
    max_size = settings.max_size

    def select(context: StorageDriverSelectContext, payload: Payload) -> StorageDriver:
        # Only a step's own result is refused: there a non-retryable failure fails the
        # step cleanly. A start input, a workflow command or the run's result over the
        # maximum is stored all the same, since refusing it inside a workflow task
        # would leave the run retrying that task forever.
        size = payload.ByteSize()
        if size > max_size and activity.in_activity():
            raise ApplicationError(
                f"a value of {_human(size)} is over the payload limit of {_human(max_size)} "
                f"({MAX_ENV})",
                type=ERROR_PAYLOAD_TOO_LARGE,
                non_retryable=True,
            )
        return driver

    return dataclasses.replace(
        pydantic_data_converter,
        external_storage=ExternalStorage(
            drivers=[driver], driver_selector=select, payload_size_threshold=settings.threshold
        ),
    )
