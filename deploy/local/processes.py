"""Child processes of the local stack: each in its own process group, logged to a file or inherited,
and stoppable, killable and restartable one at a time."""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

STOP_TIMEOUT_S = 15.0
_POLL_S = 0.1


class StackError(RuntimeError):
    """The stack could not start, or one of its processes died."""


@dataclass
class Process:
    """One child: ``log_path`` None inherits the parent's stdout and stderr."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    url: str | None = None
    ready: Callable[[], bool] | None = field(default=None, repr=False)
    popen: subprocess.Popen | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> "Process":
        if self.alive:
            raise StackError(f"{self.name} is already running (pid {self.pid})")
        self._close_log()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
            self._log.write(f"--- start {self.name}: {' '.join(self.argv)}\n".encode())
            self._log.flush()
        # A session of its own: Ctrl-C in the terminal reaches only the stack, which stops the children
        # in order, and a signal sent to the group also reaches what the child spawned.
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def send(self, sig: int) -> None:
        """Send ``sig`` to the whole process group; a no-op once the process has exited."""
        if self.alive and self.popen is not None:
            # Exited between the check and the signal: nothing left to signal.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)

    def wait(self, timeout: float) -> bool:
        """True if the process exited within ``timeout`` seconds."""
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM, then SIGKILL if it outlives ``timeout``."""
        self.send(signal.SIGTERM)
        if not self.wait(timeout):
            self.kill()
        self._close_log()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill without grace (``kill -9`` by default) and reap it."""
        self.send(sig)
        self.wait(STOP_TIMEOUT_S)

    def restart(self) -> "Process":
        self.stop()
        return self.start()

    def wait_ready(self, timeout: float) -> "Process":
        """Until its ``ready`` check holds; fails at once if the process exits meanwhile."""
        if self.ready is not None:
            wait_until(self.ready, f"{self.name} to be ready", timeout, [self])
        return self

    def tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_all(processes: list[Process], timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop together: every process gets SIGTERM first, so their grace periods overlap."""
    for process in processes:
        process.send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.wait(max(deadline - time.monotonic(), 0))
        process.stop(timeout=0)


# Ports the OS handed this process for a server to listen on later. Until one listens, the OS may
# hand the same port out again: a stack's NATS and stand-in were once given one port.
_handed_out: set[int] = set()
_TRIES = 100


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    """``preferred`` if nothing listens there, else a port the OS hands out that it has not handed
    this process before."""
    if preferred and port_is_free(preferred, host):
        return preferred
    for _ in range(_TRIES):
        with socket.socket() as sock:
            _reusable(sock)
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise StackError("no free port")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        _reusable(sock)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _reusable(sock: socket.socket) -> None:
    # As the servers do: a port left in TIME_WAIT by the last run is free to listen on.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def wait_until(
    check: Callable[[], bool], what: str, timeout: float, watch: list[Process] | None = None
) -> None:
    """Poll ``check`` until it holds; fail early if a process in ``watch`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while not check():
        dead = [p for p in watch or [] if not p.alive]
        if dead:
            raise StackError(f"{dead[0].name} exited (code {dead[0].returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(_POLL_S)


def tcp_open(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            return False
        return True

    return check


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return check
