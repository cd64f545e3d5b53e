"""Child processes, one way for all who start them: `make run` (serve.py), the tests' servers
(tests/servers.py, tests/stores.py) and the chat bench (bench/chat.py).

Each command runs in a session of its own, so it and whatever it starts (a Celery worker's
pool) form one process group, signalled and killed as one; a Ctrl-C at the terminal reaches
only the supervisor, which then stops each child once. Its output goes to a log file, or is
relayed line by line, tagged with its name. Also the port probes that tell when a server is
up, and the few /proc readings the callers need (which processes run, their CPU time).

Standard library only (`make stop` runs before .venv exists): the scripts of deploy/dev
import it as `processes`, the rest of the project as `deploy.dev.processes`.
"""

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

POLL_SECONDS = 0.1


class ProcessError(RuntimeError):
    """A child exited, or was not ready in time; the message ends with its output."""


def tag(name: str, text: str) -> str:
    """One line of relayed output: `worker | text`."""
    return f"{name:<6} | {text}\n"


class Process:
    """`command` in a session of its own, with `env` (default: this process's) in `cwd`.
    Its output is appended to `log`, or without one read by `relay()`. It may be started
    again once it has stopped.

    `die_with_parent`: the kernel sends it SIGTERM when the thread that started it ends (the
    supervisor killed with -9), so start it from the main thread."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.name = name
        self.command = command
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._log = log
        self.die_with_parent = die_with_parent
        self._popen: subprocess.Popen[bytes] | None = None
        self._terminated = False

    def start(self) -> None:
        assert not self.running, f"{self.name} is running"
        self._terminated = False
        out = self._log.open("ab") if self._log is not None else None
        try:
            self._popen = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out or subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.die_with_parent else None,
            )
        finally:
            if out is not None:
                out.close()

    @property
    def popen(self) -> "subprocess.Popen[bytes]":
        assert self._popen is not None, f"{self.name} was never started"
        return self._popen

    @property
    def pid(self) -> int:
        """Its pid, which is also the id of its process group."""
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """None while it runs; -N when signal N ended it."""
        return self.popen.poll()

    # --- output -----------------------------------------------------------------------------

    @property
    def log(self) -> Path:
        """The file its output is appended to."""
        assert self._log is not None, f"{self.name} has no log: its output is relayed"
        return self._log

    def output(self) -> str:
        """Everything in its log so far."""
        if self._log is None or not self._log.exists():
            return ""
        return self._log.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return self.output()[-chars:]

    def relay(self, write: Callable[[str], None]) -> threading.Thread:
        """Without a log: a daemon thread that hands each line it prints to `write`, tagged
        with its name, until it closes its output."""
        stream = self.popen.stdout
        assert stream is not None, f"{self.name} writes to {self._log}"

        def run() -> None:
            for raw in stream:
                write(tag(self.name, raw.decode(errors="replace").rstrip()))

        thread = threading.Thread(target=run, name=f"relay-{self.name}", daemon=True)
        thread.start()
        return thread

    # --- waiting ----------------------------------------------------------------------------

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise ProcessError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")

    def wait_until(self, ready: Callable[[], bool], timeout: float, failure: str) -> None:
        """Poll `ready()` until it is true. Raises ProcessError if the process exits first,
        or with `failure` (what did not happen) once `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.check_alive()
            if time.monotonic() > deadline:
                raise ProcessError(f"{self.name}: {failure}:\n{self.tail()}")
            time.sleep(POLL_SECONDS)

    def wait_for(self, text: str, timeout: float) -> None:
        """Until `text` is in its log."""
        self.wait_until(lambda: text in self.output(), timeout, f"no {text!r} in its output")

    # --- stopping ---------------------------------------------------------------------------

    def signal(self, signum: int, *, group: bool = True) -> None:
        """To its whole process group (also when the leader has exited and a child of it
        lingers), or only to the process itself."""
        with suppress(ProcessLookupError):
            if group:
                os.killpg(self.pid, signum)
            elif self.running:
                self.popen.send_signal(signum)

    def terminate(self, *, group: bool = True) -> None:
        """SIGTERM, once, while it runs: to the whole group (a Celery worker's pool children
        stop at once), or with group=False to the process alone, which stops its own
        children (a Celery worker then finishes its tasks: a warm shutdown)."""
        if self.running and not self._terminated:
            self._terminated = True
            self.signal(signal.SIGTERM, group=group)

    def kill(self, timeout: float = 10) -> None:
        """SIGKILL to the whole group at once, as a crash: no shutdown code runs."""
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout)

    def stop(self, timeout: float, *, group: bool = True) -> None:
        """terminate(), then kill() if it still runs `timeout` seconds later."""
        stop_all([self], timeout, group=group)


def stop_all(
    processes: Iterable[Process],
    timeout: float,
    *,
    group: bool = True,
    hurry: Callable[[], bool] = lambda: False,
) -> list[Process]:
    """terminate() every one at once (they stop in parallel), then kill() those still
    running after `timeout` seconds, or as soon as `hurry()` is true. Returns the killed."""
    processes = list(processes)
    for process in processes:
        process.terminate(group=group)
    deadline = time.monotonic() + timeout
    while (running := [p for p in processes if p.running]) and time.monotonic() < deadline:
        if hurry():
            break
        time.sleep(POLL_SECONDS)
    for process in running:
        process.kill()
    return running


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the thread that started it ends."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


# --- ports --------------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the system's choice)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


# --- processes not started here: /proc ---------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    name: str  # the executable's name, as `ps -o comm` shows it
    parent: int
    group: int
    cpu_seconds: float  # user + system time used so far
    zombie: bool  # exited, not yet reaped


def process_info(pid: int) -> ProcessInfo | None:
    """What /proc/<pid>/stat says; None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The name is in parentheses and may hold spaces or parentheses itself.
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ProcessInfo(
        pid=pid,
        name=name,
        parent=int(fields[1]),
        group=int(fields[2]),
        cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks,
        zombie=fields[0] == "Z",
    )


def all_processes() -> list[ProcessInfo]:
    found = (process_info(int(path.name)) for path in Path("/proc").glob("[0-9]*"))
    return [info for info in found if info is not None]


def cpu_times(pids: Iterable[int]) -> dict[int, float]:
    """{pid: user + system CPU seconds used so far} of those of `pids` that still exist."""
    return {pid: info.cpu_seconds for pid in pids if (info := process_info(pid)) is not None}


def cpu_used(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """CPU seconds used between two cpu_times() readings by the processes in both: one that
    exited in between (a PostgreSQL backend) would take its whole past with it."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def process_cmdline(pid: int) -> str:
    """The command line of a live process, "" when there is none (pid gone or reused)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def terminate_pid(pid: int, timeout: float) -> None:
    """SIGTERM to a server that is not our child (a daemon started earlier), then wait up to
    `timeout` seconds until it is gone."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while process_cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
