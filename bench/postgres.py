"""A throwaway PostgreSQL for LiteLLM's database: Debian's server binaries (``postgresql-15``, or
any ``/usr/lib/postgresql/<version>/bin``), a fresh cluster in the run's temporary folder, on a free
port, trust authentication on 127.0.0.1 only, stopped with the run."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from deploy.local.processes import Process, StackError, free_port, tcp_open

HOST = "127.0.0.1"
DATABASE = "litellm"
_READY_TIMEOUT_S = 60.0
# PostgreSQL refuses to run as root; as root the bench runs it as Debian's ``postgres`` user.
_SERVER_USER = "postgres"


def binaries() -> Path:
    """The folder holding ``initdb`` and ``postgres``; ``StackError`` naming the package when absent."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    if initdb := shutil.which("initdb"):
        return Path(initdb).resolve().parent
    raise StackError("PostgreSQL's server is not installed: apt-get install postgresql (Debian)")


def _as_server_user() -> tuple[list[str], int | None]:
    """The command prefix and uid that run the server: itself, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam(_SERVER_USER).pw_uid
    except KeyError:
        raise StackError(
            f"running as root needs the {_SERVER_USER!r} user that Debian's package makes"
        ) from None
    return ["runuser", "-u", _SERVER_USER, "--"], uid


def start(work_dir: Path) -> tuple[Process, str]:
    """Start the server; returns it and the ``DATABASE_URL`` of its ``litellm`` database."""
    bin_dir = binaries()
    prefix, uid = _as_server_user()
    # Beside the run's folder, which only root may enter, rather than inside it.
    data = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    if uid is not None:
        os.chown(data, uid, -1)
    log = work_dir / "postgres.log"
    initdb = [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
    with log.open("ab") as out:
        subprocess.run([*initdb, "--no-sync"], check=True, stdout=out, stderr=out, timeout=120)
    port = free_port()
    # Sockets in the data folder, not /run/postgresql; fsync off: a benchmark's data is thrown away.
    argv = [*prefix, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", HOST]
    argv += ["-k", str(data), "-c", "fsync=off", "-c", "max_connections=200"]
    server = Process("postgres", argv, dict(os.environ), log, ready=tcp_open(HOST, port))
    server.start().wait_ready(_READY_TIMEOUT_S)
    createdb = [*prefix, str(bin_dir / "createdb"), "-h", HOST, "-p", str(port), "-U", "postgres", DATABASE]
    with log.open("ab") as out:
        subprocess.run(createdb, check=True, stdout=out, stderr=out, timeout=60)
    return server, f"postgresql://postgres@{HOST}:{port}/{DATABASE}"
