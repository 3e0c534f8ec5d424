"""What a run cost: CPU time per process and for the whole machine, memory of a process."""

from __future__ import annotations

import os
import resource
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testbed import Platform


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def group_cpu_seconds(pgid: int) -> float:
    """CPU time of every live process in a process group: the server and its workers."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def system_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def _pid_cpu(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError):
        return None


class CpuMeter:
    """Where the machine's CPU went during a run: the server, this load generator, the
    PostgreSQL backends serving the bench database, other processes (other users' work).

    Reported in cores (CPU seconds per wall second), so 2.0 is the whole of a 2-core machine.
    """

    def __init__(self, platform: Platform, extra: dict[str, int] | None = None) -> None:
        self.platform = platform
        self.extra = extra or {}

    def _pg_backends(self) -> list[int]:
        try:
            with self.platform.admin_connect() as conn:
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.platform.db_name],
                ).fetchall()
        except Exception:  # noqa: BLE001 - accounting is best effort
            return []
        return [int(r[0]) for r in rows]

    def _sessions(self) -> int:
        """Sessions ever opened on the bench database (pg_stat_database, PostgreSQL 14+)."""
        try:
            with self.platform.admin_connect() as conn:
                row = conn.execute(
                    "SELECT sessions FROM pg_stat_database WHERE datname = %s", [self.platform.db_name]
                ).fetchone()
        except Exception:  # noqa: BLE001 - accounting is best effort
            return 0
        return int(row[0]) if row and row[0] is not None else 0

    def _sample_backends(self) -> None:
        # Backends come and go during a run (a connection per worker thread): poll them, and
        # count each one's CPU up to the last time it was seen.
        while not self._stop.wait(0.25):
            self._record_backends()

    def _record_backends(self) -> None:
        pids = self._pg_backends()
        self.max_backends = max(self.max_backends, len(pids))
        for pid in pids:
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.backends_last[pid] = cpu
                self.backends_first.setdefault(pid, 0.0)

    def __enter__(self) -> CpuMeter:
        self.max_backends = 0
        self.backends_last: dict[int, float] = {}
        self.backends_first: dict[int, float] = {}
        for pid in self._pg_backends():
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.backends_first[pid] = self.backends_last[pid] = cpu
        self.sessions0 = self._sessions()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample_backends, daemon=True)
        self._sampler.start()
        self.server0 = group_cpu_seconds(self.platform.pid)
        self.extra0 = {name: _pid_cpu(pid) or 0.0 for name, pid in self.extra.items()}
        self.client0 = own_cpu_seconds()
        self.system0 = system_cpu()
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        busy1, total1 = system_cpu()
        self.client = own_cpu_seconds() - self.client0
        self.server = group_cpu_seconds(self.platform.pid) - self.server0
        self.extras = {name: (_pid_cpu(pid) or 0.0) - self.extra0[name] for name, pid in self.extra.items()}
        self._stop.set()
        self._sampler.join()
        self._record_backends()
        self.postgres = sum(self.backends_last[pid] - self.backends_first[pid] for pid in self.backends_last)
        self.busy = busy1 - self.system0[0]
        self.capacity = total1 - self.system0[1]
        # Each admin query of the sampler is a session too (on another database): not counted.
        self.new_sessions = self._sessions() - self.sessions0
        # The sampler's own queries cost this process a little CPU: leave it in, it is small.

    def cores(self, seconds: float) -> float:
        return seconds / self.wall if self.wall else 0.0

    def summary(self) -> str:
        others = self.busy - self.server - self.client - self.postgres - sum(self.extras.values())
        parts = [f"server {self.cores(self.server):.2f}"]
        parts += [f"{name} {self.cores(v):.2f}" for name, v in self.extras.items()]
        parts += [
            f"postgres backends {self.cores(self.postgres):.2f} (≤{self.max_backends} connections)",
            f"load generator {self.cores(self.client):.2f}",
            f"other processes {self.cores(max(0.0, others)):.2f}",
            f"idle {self.cores(max(0.0, self.capacity - self.busy)):.2f}",
        ]
        return "CPU (cores): " + ", ".join(parts) + f"; new PostgreSQL sessions: {self.new_sessions:,}"
