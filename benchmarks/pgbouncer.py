"""PgBouncer (the Debian package) in transaction mode in front of the embedded PostgreSQL, on a
loopback port: for tests/ops/test_pgbouncer.py and benchmarks/connections.py.

The embedded server trusts local socket connections, so PgBouncer does too (``auth_type =
trust``; it still needs the user in its ``auth_file``). PgBouncer refuses to run as root; as
root it runs as the user the embedded PostgreSQL runs as.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from modelserver.launcher import free_port

EMBEDDED_SYSTEM_USER = "pgserver"


def executable() -> str:
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(found).exists():
        raise RuntimeError("pgbouncer is not installed: apt-get install -y pgbouncer (.ci/run)")
    return found


@dataclass
class PgBouncer:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        return (self.folder / "pgbouncer.log").read_text(errors="replace")


def start(
    direct_url: str,
    *,
    pool_size: int,
    aliases: dict[str, tuple[str, int]] | None = None,
    max_client_conn: int = 1000,
) -> PgBouncer:
    """PgBouncer for the server behind ``direct_url`` (a socket URL of the embedded server):
    every database under its own name with ``pool_size`` server connections each, plus
    ``aliases`` (name -> (database, pool size))."""
    target = conninfo_to_dict(direct_url)
    host, port = str(target["host"]), str(target.get("port") or 5432)
    folder = Path(tempfile.mkdtemp(prefix="medai-pgbouncer-"))
    folder.chmod(0o755)
    listen = free_port()
    databases = [f"* = host={host} port={port}"]
    for alias, (database, size) in (aliases or {}).items():
        databases.append(f"{alias} = host={host} port={port} dbname={database} pool_size={size}")
    (folder / "userlist.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "\n".join(
            [
                "[databases]",
                *databases,
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {listen}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {folder / 'userlist.txt'}",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                f"max_client_conn = {max_client_conn}",
                f"logfile = {folder / 'pgbouncer.log'}",
                # The default (SELECT 1 after 30 s idle) would only add noise to the counts.
                "server_check_delay = 3600",
                "",
            ]
        )
    )
    for name in ("userlist.txt", "pgbouncer.ini"):
        (folder / name).chmod(0o644)
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(folder, EMBEDDED_SYSTEM_USER)
    process = subprocess.Popen(
        [executable(), str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=EMBEDDED_SYSTEM_USER if as_root else None,
    )
    bouncer = PgBouncer(process, listen, folder)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with psycopg.connect(bouncer.url("postgres"), prepare_threshold=None):
                return bouncer
        except psycopg.OperationalError:
            time.sleep(0.1)
    log = bouncer.log() if (folder / "pgbouncer.log").exists() else ""
    bouncer.stop()
    raise RuntimeError(f"pgbouncer did not start:\n{log[-2000:]}")


def server_connections(direct_url: str, database: str) -> int:
    """Client backends connected to ``database`` right now, not counting the one asking."""
    with psycopg.connect(direct_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0])
