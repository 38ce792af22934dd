"""A throw-away PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
folder, served on a loopback port and a private unix socket, removed on `stop()`.

    with PgCluster() as pg:          # pg.url: postgresql+psycopg://postgres@127.0.0.1:PORT
        url = pg.create_database()   # a fresh empty database on it

The server binaries come from the distribution's packages (Debian `postgresql`,
scripts/setup.sh installs them). PostgreSQL refuses to run as root: as root the cluster
runs as the `postgres` user (or `nobody`) through `runuser`. Durability is traded for
speed (fsync off): a throw-away cluster, never a place for data.

A cluster never outlives the process that started it: `start()` also starts a small
watchdog (`python -m sync.gateway.pgcluster --watch DIR`, its own session) holding the read
end of a pipe whose only write end stays in the owner. When the owner ends in any way —
`destroy()`, an exception, SIGKILL of a test run — the pipe reaches end of file and the
watchdog stops the server (immediate mode) and removes the folder. No polling.
"""
from __future__ import annotations

import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import sys
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
    """A loopback port free now, below the kernel's ephemeral range where one exists: the
    server cannot be asked for port 0, and a port outside that range cannot be handed to
    another program's port-0 socket between this pick, the start and a restart. A port
    taken meanwhile anyway makes the first start pick again (`start`)."""
    low = _ephemeral_low()
    for _ in range(50):
        port = random.randrange(10_000, low) if low > 11_000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free loopback port for PostgreSQL")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _port_taken(log: str) -> bool:
    return "could not bind" in log or "could not create any TCP/IP sockets" in log


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
        self.watchdog: subprocess.Popen | None = None
        self._started = False        # once started, the port (and so the URL) is fixed
        self._lifeline: int | None = None   # write end of the watchdog's pipe

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run(self.bin, self.user, self.dir, *args, check=check)

    def _watch(self) -> None:
        """Start the watchdog (module docstring) once."""
        if self.watchdog is not None:
            return
        read_end, self._lifeline = os.pipe()   # not inherited by any other child
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-m", "sync.gateway.pgcluster", "--watch", str(self.dir),
                 self.user or ""], stdin=read_end, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd="/", start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        finally:
            os.close(read_end)

    def start(self) -> "PgCluster":
        self._watch()
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--locale=C", "--no-sync")
            with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
                for key, value in {**SETTINGS,
                                   "unix_socket_directories": f"'{self.dir}'"}.items():
                    conf.write(f"{key} = {value}\n")
        for attempt in range(5):
            result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                               "-o", f"-p {self.port}", "-w", "-t", "60", "start", check=False)
            if result.returncode == 0:
                self._started = True
                return self
            if self._started or not _port_taken(self.log()) or attempt == 4:
                break     # a restart keeps its port: the URLs handed out name it
            self.port = _free_port()
            self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr}\n{self.log()}")

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
        if self._lifeline is not None:   # the watchdog finds nothing left and exits
            os.close(self._lifeline)
            self._lifeline = None
            self.watchdog.wait(30)

    def __enter__(self) -> "PgCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.destroy()


def _run(bin_dir: Path, user: str | None, cwd: Path, *args: str,
         check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(bin_dir / args[0]), *args[1:]]
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=check,
                          timeout=120)


def _watchdog(folder: Path, user: str | None) -> None:
    """Wait for the owner's end (end of file on stdin), then stop and remove its cluster."""
    while sys.stdin.buffer.read(4096):
        pass
    data = folder / "data"
    if (data / "postmaster.pid").exists():
        _run(bindir(), user, Path("/"), "pg_ctl", "-D", str(data), "-m", "immediate", "-w",
             "stop", check=False)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--watch":
        _watchdog(Path(sys.argv[2]), sys.argv[3] or None)
    else:
        sys.exit("usage: python -m sync.gateway.pgcluster --watch FOLDER USER")
