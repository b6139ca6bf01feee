"""A real streaming replica of an embedded PostgreSQL, for tests/ops/test_read_replica.py and
benchmarks/replica.py.

The wheel ships ``pg_basebackup`` and ``pg_ctl``, and the embedded server's defaults already
allow streaming (``wal_level = replica``, ``max_wal_senders = 10``, and initdb's ``local
replication all trust`` line), so the primary needs no change: ``pg_basebackup -R -X stream``
copies it and writes the standby's ``primary_conninfo``; ``pg_ctl`` starts the copy on its own
Unix socket (no TCP listener at all). As root, both run as the user the embedded server runs
as (PostgreSQL refuses root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from service import embedded_db


@dataclass
class Standby:
    folder: Path  # the data directory's parent; also the socket's directory (a short path)
    bin_path: Path
    user: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = embedded_db.DATABASE_NAME) -> str:
        return f"postgresql://postgres@/{database}?host={self.folder}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin_path / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
            user=self.user,
        )

    def start(self) -> None:
        # -h '': no TCP listener; -k: the socket in this folder.
        log = str(self.folder / "postgres.log")
        self._ctl("-w", "-l", log, "-o", f"-h '' -k {self.folder}", "start")

    def stop(self) -> None:
        self._ctl("-w", "-m", "fast", "stop")

    def sql(self, statement: str) -> Any:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            row = conn.execute(statement).fetchone()
        return None if row is None else row[0]

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def create(primary: embedded_db.EmbeddedPostgres) -> Standby:
    """Copy ``primary`` with ``pg_basebackup`` and start the copy as its streaming standby."""
    handle = primary.handle
    user: str | None = handle.system_user
    # A short path: a Unix socket's path is limited to about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="medai-standby-"))
    if user is not None and os.geteuid() == 0:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    else:
        user = None
    standby = Standby(folder=folder, bin_path=Path(handle.bin_path), user=user)
    subprocess.run(
        [
            str(standby.bin_path / "pg_basebackup"),
            "-D",
            str(standby.data),
            "-R",  # standby.signal + primary_conninfo
            "-X",
            "stream",
            "-c",
            "fast",  # an immediate checkpoint, not a spread one (minutes)
            "-d",
            primary.libpq_url("postgres"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        user=user,
    )
    standby.start()
    return standby
