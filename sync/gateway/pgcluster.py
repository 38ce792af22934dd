"""A throw-away PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
folder, served on a loopback port and a private unix socket, removed on `stop()`.

    with PgCluster() as pg:          # pg.url: postgresql+psycopg://postgres@127.0.0.1:PORT
        url = pg.create_database()   # a fresh empty database on it

The server binaries come from the distribution's packages (Debian `postgresql`,
scripts/setup.sh installs them). PostgreSQL refuses to run as root: as root the cluster
runs as the `postgres` user (or `nobody`) through `runuser`. Durability is traded for
speed (fsync off): a throw-away cluster, never a place for data.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

SETTINGS = {"listen_addresses": "'127.0.0.1'", "fsync": "off", "synchronous_commit": "off",
            "full_page_writes": "off", "max_connections": "300", "shared_buffers": "128MB",
            "log_min_messages": "warning", "logging_collector": "off"}


class PgUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def bindir() -> Path:
    for pattern in ("/usr/lib/postgresql/*/bin/initdb", "/usr/local/pgsql/bin/initdb",
                    "/usr/pgsql-*/bin/initdb"):
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise PgUnavailable("PostgreSQL server binaries (initdb) not found; "
                        "run scripts/setup.sh as root to install them")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self):
        self.bin = bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="chaoshou-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user = name
                os.chown(self.dir, pw.pw_uid, pw.pw_gid)
                break
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, check=check,
                              timeout=120)

    def start(self) -> "PgCluster":
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
            with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
                for key, value in {**SETTINGS, "port": str(self.port),
                                   "unix_socket_directories": f"'{self.dir}'"}.items():
                    conf.write(f"{key} = {value}\n")
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                           "-w", "-t", "60", "start", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.log()}")
        return self

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def restart(self) -> None:
        """A clean restart (every open connection is cut)."""
        self.stop()
        self.start()

    def log(self) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def create_database(self, name: str | None = None) -> str:
        """An empty database; returns its SQLAlchemy URL."""
        from sqlalchemy import create_engine, text
        name = name or "chaoshou_" + uuid.uuid4().hex[:12]
        engine = create_engine(self.url + "/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"{self.url}/{name}"

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()
