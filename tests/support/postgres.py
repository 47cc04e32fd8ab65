"""A throw-away PostgreSQL 15 cluster for the test suite: a temporary folder, a unix socket.

`tests/conftest.py` starts one per session (`postgres_server`) the first time a
test asks for it and stops it at the end; each test gets a database of its own
(`Cluster.create_database`). The cluster listens on a unix socket only (no TCP,
per the network rule) and trusts local connections; `listen_on` adds one private
address of a test's own (tests/e2e/test_multihost.py: the root side of a network
namespace's veth, so that an iptables DROP in the namespace cuts it off the store).
As root, `initdb` and `pg_ctl` run as the `postgres` user, which must own the folder
(ENVIRONMENT.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

PG_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin")]
ROLE = "reconciler"
PORT = 5432  # only names the socket file (.s.PGSQL.5432) in our own folder: no TCP


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl, or None when PostgreSQL is not installed."""
    for folder in PG_BIN_DIRS:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


@dataclass
class Cluster:
    """A running cluster: its folder, socket folder and the URL of its admin database."""

    root: Path
    bin: Path
    user: str | None  # the OS user the server runs as (None: ourselves)
    listen: str = ""  # a TCP address to listen on as well ("" : the unix socket only)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sock"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) of one database over the unix socket."""
        return f"postgresql+psycopg://{ROLE}@/{database}?host={self.sockets}&port={PORT}"

    def listen_on(self, address: str, clients: str) -> None:
        """Listen on TCP `address` too, trusting the `clients` network (CIDR); takes effect
        at the next `start_server`. Only a test's own private address, never all of them."""
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all {ROLE} {clients} trust\n")
        self.listen = address

    def tcp_url(self, url: str) -> str:
        """`url` (of `create_database`) over TCP to the `listen_on` address."""
        name = url.split("@/", 1)[1].split("?", 1)[0]
        return f"postgresql+psycopg://{ROLE}@{self.listen}:{PORT}/{name}"

    def _run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def start(self) -> None:
        """initdb, then start the server; raises RuntimeError with the log on failure."""
        init = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", ROLE,
                         "--no-sync", "-E", "UTF8")
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        self.start_server()

    def start_server(self) -> None:
        """Start the (initialised) server; also after `stop_server` (a store restart)."""
        # fsync off: a crashed test cluster is thrown away anyway. max_connections: the
        # concurrency tests open ~30 connections at once, over several databases.
        options = (f"-k {self.sockets} -p {PORT} -c listen_addresses={self.listen} -c fsync=off "
                   "-c max_connections=200 -c full_page_writes=off")
        started = self._run("pg_ctl", "-D", str(self.data), "-o", options,
                            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start")
        if started.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log}")

    def stop_server(self) -> None:
        """Stop the server (fast: clients are disconnected), keeping its data."""
        done = self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr.strip()}")

    def stop(self) -> None:
        """Stop the server (fast) and remove its folder."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database`, closing what still uses it."""
        name = url.split("@/", 1)[1].split("?", 1)[0]
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host=str(self.sockets), port=PORT, user=ROLE, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(statement.encode())


def start_cluster() -> Cluster | str:
    """A started cluster, or the reason why there can be none (binaries absent)."""
    folder = pg_bin()
    if folder is None:
        return "PostgreSQL is not installed (make test installs it: scripts/ensure-postgres.sh)"
    user: str | None = None
    root = Path(tempfile.mkdtemp(prefix="reconciler-pg-"))
    if os.geteuid() == 0:
        # The server refuses to run as root: it runs as postgres, in a folder it owns.
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chmod(root, 0o700)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = Cluster(root, folder, user)
    for sub in (cluster.sockets,):
        sub.mkdir()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(sub, entry.pw_uid, entry.pw_gid)
    # Other users (the test process as root is fine) reach the socket through the folder.
    os.chmod(root, 0o711)
    os.chmod(cluster.sockets, 0o777)
    cluster.start()
    return cluster
