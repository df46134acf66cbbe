"""A throw-away PostgreSQL server for the tests and the benchmark, started on demand.

The server binaries come from the `pgserver` package (in the test extra, so `pip install -e '.[test]'`
brings them), or from the system's `initdb`/`pg_ctl` when pgserver is missing. The server listens on
127.0.0.1 with password (SCRAM) logins, keeps its data in a folder it is given, runs with fsync off,
and hands out a fresh database per caller.

Its superuser's SCRAM secret is made with one PBKDF2 iteration instead of the server's 4,096: each login
then costs microseconds instead of about 5 ms of CPU on each side, and the tests log in thousands of times
(every bot's pool, every cleaner, every check). The login is still SCRAM, with the password checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; as root the server runs as this system user (pgserver creates it too).
SERVICE_USER = "pgserver"


def _binaries() -> Path:
    try:
        from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        found = shutil.which("initdb") or shutil.which("pg_ctl")
        if found is None:
            raise RuntimeError(
                "no PostgreSQL server binaries: install the test extra (pip install -e '.[test]', which brings "
                "pgserver) or the system's postgresql package"
            ) from None
        return Path(found).parent
    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.password = secrets.token_hex(12)
        self.port = _free_port()
        self._bin = _binaries()
        self._as: dict[str, Any] = {}
        self._databases = 0

    def start(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            self._run_as_service_user()
        password_file = self.root / "password"
        password_file.write_text(self.password)
        self._chown(self.root, password_file, self.sockets)
        self._pg(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth-local=trust", "--auth-host=scram-sha-256",
            f"--pwfile={password_file}", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        for attempt in range(3):
            # The port was free when chosen; initdb takes seconds, in which another program may have taken it.
            if attempt:
                self.port = _free_port()
            options = f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -F -c max_connections=300"
            try:
                self._pg(
                    "pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l", str(self.root / "log"), "-o", options,
                    "start",
                )  # fmt: skip
                self._speed_up_logins()
                return self
            except RuntimeError as error:
                if attempt == 2 or "Address already in use" not in str(error):
                    raise
        return self

    def _speed_up_logins(self) -> None:
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_secret(self.password, iterations=1)}'".encode())

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def url(self, database: str = "postgres", *, user: str = SUPERUSER, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "rb", *, template: str | None = None) -> str:
        """A new database, empty or a copy of the database at `template` (a URL this server made); its URL."""
        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        copy_of = f' TEMPLATE "{template.rsplit("/", 1)[-1]}"' if template else ""
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"{copy_of}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by create_database (its files go at once, not when the folder is deleted)."""
        name = url.rsplit("/", 1)[-1]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def sql(self, statement: str, database: str = "postgres") -> None:
        with psycopg.connect(self.url(database), autocommit=True) as admin:
            admin.execute(statement.encode())

    def log(self) -> str:
        path = self.root / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- running the server's programs -------------------------------------------------------------

    def _run_as_service_user(self) -> None:
        import pwd

        try:
            entry = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", SERVICE_USER], check=True, capture_output=True)
            entry = pwd.getpwnam(SERVICE_USER)
        self._as = {"user": entry.pw_uid, "group": entry.pw_gid}
        # The service user must reach the data folder and read the binaries and their libraries.
        for folder in [*self.root.parents, *self._bin.parents]:
            if folder != Path("/") and folder.exists():
                folder.chmod(folder.stat().st_mode | 0o005)
        for path in [self._bin, self._bin.parent / "lib", self._bin.parent / "share"]:
            if path.exists():
                for item in [path, *path.rglob("*")]:
                    mode = item.stat().st_mode
                    item.chmod(mode | 0o004 | (0o001 if item.is_dir() or mode & 0o100 else 0))

    def _chown(self, *paths: Path) -> None:
        if self._as:
            for path in paths:
                os.chown(path, self._as["user"], self._as["group"])

    def _pg(self, program: str, *args: str, check: bool = True) -> None:
        result = subprocess.run(
            [str(self._bin / program), *args], capture_output=True, text=True, timeout=60, **self._as
        )
        if check and result.returncode != 0:
            output = result.stderr or result.stdout
            raise RuntimeError(f"{program} failed ({result.returncode}): {output}\n{self.log()}")


def wait_for(server: PostgresServer, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def scram_secret(password: str, *, iterations: int) -> str:
    """The SCRAM-SHA-256 secret PostgreSQL stores for `password` (RFC 5802, RFC 7677), with `iterations`."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
