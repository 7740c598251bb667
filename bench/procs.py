"""What a process costs, read from ``/proc``: CPU seconds, resident and peak resident memory, and
the system calls and context switches that crossing between processes costs (``kernel_calls``).

A watched process counts together with everything it spawned (a server's worker processes), so each
figure is for the process tree rooted at the pid the bench started.
"""

import os
import resource
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class Usage:
    """One process tree at one instant."""

    cpu_s: float  # user + system CPU seconds since it started
    rss_kb: int  # resident now (VmRSS)
    hwm_kb: int  # peak resident so far (VmHWM), summed over the tree


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after its closing one.
    return text[text.rindex(")") + 2 :].split()


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    """``pid`` and all its descendants alive now. The bench itself is the parent of every server it
    starts, so its own entry (the load generator) is the process alone."""
    if pid == os.getpid():
        return [pid]
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _status_number(where: Path, key: str) -> int:
    """A number from the ``status`` of a process (``/proc/<pid>``) or of one of its threads."""
    try:
        for line in (where / "status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _usage(pid: int, children: dict[int, list[int]]) -> Usage:
    """The tree's usage now; a process that already exited counts zero."""
    cpu, rss, hwm = 0.0, 0, 0
    for member in _tree(pid, children):
        fields = _stat_fields(member)
        if fields is None:
            continue
        # Fields 14 and 15 of stat (utime, stime); the split above starts at field 3.
        cpu += (int(fields[11]) + int(fields[12])) / _TICKS
        rss += _status_number(_PROC / str(member), "VmRSS:")
        hwm += _status_number(_PROC / str(member), "VmHWM:")
    return Usage(cpu_s=cpu, rss_kb=rss, hwm_kb=hwm)


def snapshot(pids: Mapping[str, int]) -> dict[str, Usage]:
    """The usage of each named process tree, now."""
    children = _children_map()
    return {name: _usage(pid, children) for name, pid in pids.items()}


def cpu_between(before: Mapping[str, Usage], after: Mapping[str, Usage]) -> dict[str, float]:
    """CPU seconds each process spent between two snapshots."""
    return {name: after[name].cpu_s - before[name].cpu_s for name in after if name in before}


def raise_fd_limit() -> int:
    """Lift this process's open-file limit to the hard limit; children inherit it. Returns the limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy since boot, all cores together (``/proc/stat``)."""
    fields = [int(v) for v in (_PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


@dataclass(frozen=True)
class KernelCalls:
    """What one process tree has asked of the kernel since it started. On a small machine a message
    between processes costs more in these than in the work it carries, and a machine's busy spells
    move them far less than they move timings (bench/README.md, ninth and tenth passes)."""

    # The kernel counts read and write calls (``syscr`` / ``syscw``: read, readv, write, writev, a
    # would-block one too), not recv and send: uvloop and Go use the first, so the services' and
    # NATS's figures are whole, the stand-in's (asyncio's sockets) read near zero.
    reads: int
    writes: int
    waits: int  # voluntary context switches: it blocked, for a message most often
    preempted: int  # involuntary context switches


def _io_calls(pid: int) -> tuple[int, int]:
    try:
        fields = dict(line.split(": ") for line in (_PROC / str(pid) / "io").read_text().splitlines())
    except OSError:
        return 0, 0
    return int(fields["syscr"]), int(fields["syscw"])


def _switches(pid: int) -> tuple[int, int]:
    """Summed over the threads: the process's own status counts its first thread alone."""
    waits = preempted = 0
    try:
        threads = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return 0, 0
    for thread in threads:
        waits += _status_number(thread, "voluntary_ctxt_switches:")
        preempted += _status_number(thread, "nonvoluntary_ctxt_switches:")
    return waits, preempted


def kernel_calls(pids: Mapping[str, int]) -> dict[str, KernelCalls]:
    """Each named process tree's system calls and context switches, now."""
    children = _children_map()
    found = {}
    for name, pid in pids.items():
        counts = [0, 0, 0, 0]
        for member in _tree(pid, children):
            for i, n in enumerate((*_io_calls(member), *_switches(member))):
                counts[i] += n
        found[name] = KernelCalls(*counts)
    return found


def kernel_calls_between(
    before: Mapping[str, KernelCalls], after: Mapping[str, KernelCalls]
) -> dict[str, KernelCalls]:
    """What each process tree asked of the kernel between two readings."""
    return {
        name: KernelCalls(*(n - m for n, m in zip(astuple(after[name]), astuple(before[name]), strict=True)))
        for name in after
        if name in before
    }
