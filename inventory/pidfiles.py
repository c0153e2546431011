"""What `inventory run` started, recorded so that `make stop` stops exactly that.

Each process of a run (the supervisor, `run`, and its `worker`, `projector` and
`gateway`) has a file `<role>.<pid>.pid` in the checkout's `.local/pids/` (or
$INVENTORY_PID_DIR), holding its pid and, on Linux, its start time: a pid the system
has given to another process since is recognised by that and left alone. Stopping by
recorded pid, rather than by a process-name pattern, leaves the pipelines of other
checkouts on the machine running.

`python -m inventory.pidfiles stop` (what `make stop` runs) stops the supervisors
first, which stop their children themselves, then whatever recorded child outlived
its supervisor (one killed with SIGKILL, say).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PID_DIR_ENV = "INVENTORY_PID_DIR"
SUPERVISOR = "run"
# The supervisor gives its children 20 s (inventory.supervisor.STOP_GRACE_SECONDS).
SUPERVISOR_GRACE_SECONDS = 30.0
CHILD_GRACE_SECONDS = 20.0


def pid_dir() -> Path:
    """$INVENTORY_PID_DIR, else `.local/pids` of the checkout this package is in."""
    configured = os.environ.get(PID_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / ".local" / "pids"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first); None where
    there is no /proc or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return stat.rsplit(")", 1)[1].split()


def start_time(pid: int) -> str | None:
    """When `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat);
    None where that cannot be read."""
    fields = _stat(pid)
    return None if fields is None else fields[19]


@dataclass(frozen=True)
class Recorded:
    """One recorded process: its file, role, pid and start time (None: not known)."""

    path: Path
    role: str
    pid: int
    started: str | None

    def alive(self) -> bool:
        """Running, and the same process that was recorded (not a reused pid)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process now: not ours
            return False
        fields = _stat(self.pid)
        if fields is None:  # gone since, or no /proc (then the pid is all there is)
            return not Path("/proc/self").exists()
        if fields[0] == "Z":  # exited, not yet reaped by its parent
            return False
        return self.started is None or fields[19] == self.started


def record(role: str, pid: int, directory: Path | None = None) -> Path:
    """Write the file for process `pid` of `role`; returns its path."""
    directory = directory or pid_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{role}.{pid}.pid"
    path.write_text(f"{pid} {start_time(pid) or '-'}\n")
    return path


def forget(path: Path) -> None:
    path.unlink(missing_ok=True)


def recorded(directory: Path | None = None) -> list[Recorded]:
    """Every process recorded in `directory`; unreadable files are left out."""
    directory = directory or pid_dir()
    found = []
    for path in sorted(directory.glob("*.pid")):
        role = path.name.split(".", 1)[0]
        try:
            pid_text, started = path.read_text().split()
            found.append(Recorded(path, role, int(pid_text), None if started == "-" else started))
        except (OSError, ValueError):
            continue
    return found


def stop_recorded(
    directory: Path | None = None,
    *,
    supervisor_grace: float = SUPERVISOR_GRACE_SECONDS,
    child_grace: float = CHILD_GRACE_SECONDS,
    say: Callable[[str], object] = print,
) -> list[Recorded]:
    """SIGTERM every recorded process still alive, supervisors first; SIGKILL what is
    left after its grace. Removes every file; returns the processes signalled."""
    processes = recorded(directory)
    supervisors = [p for p in processes if p.role == SUPERVISOR]
    children = [p for p in processes if p.role != SUPERVISOR]
    signalled = _terminate(supervisors, supervisor_grace, say)
    # Whatever a supervisor did not stop (it was killed, or stuck) is stopped here.
    signalled += _terminate(children, child_grace, say)
    for process in processes:
        forget(process.path)
    return signalled


def _terminate(
    processes: Iterable[Recorded], grace: float, say: Callable[[str], object]
) -> list[Recorded]:
    alive = [p for p in processes if p.alive()]
    for process in alive:
        say(f"stopping {process.role} (pid {process.pid})")
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in alive) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in alive:
        if process.alive():
            say(f"{process.role} (pid {process.pid}) still running after {grace:g} s: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
    return alive


def main(argv: list[str]) -> int:
    if argv != ["stop"]:
        print("usage: python -m inventory.pidfiles stop", file=sys.stderr)
        return 2
    if not stop_recorded():
        print(f"no pipeline of this checkout running ({pid_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
