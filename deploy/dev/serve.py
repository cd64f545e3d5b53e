"""`make run`'s foreground: uvicorn (HTTP + WebSocket), a Celery worker and Celery beat as one
command, each output line tagged with the process it came from. Ctrl-C or SIGTERM stops all
three; when one exits on its own, the others are stopped and this exits non-zero."""

import os
import signal
import sys
import threading
import time
from types import FrameType

from devenv import ROOT, config, data_dir
from processes import Process, port_open, stop_all, tag

# Largest WebSocket frame accepted: JSON events and SDP offers are a few kilobytes.
WS_MAX_SIZE = 256 * 1024
STOP_TIMEOUT_SECONDS = 15

output_lock = threading.Lock()
stop_signals: list[int] = []


def commands(port: str, beat_schedule: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [python, "-m", "uvicorn", "videochat.asgi:application", "--host", "127.0.0.1",
                "--port", port, "--ws-max-size", str(WS_MAX_SIZE), "--lifespan", "off",
                "--timeout-graceful-shutdown", "5"],
        "worker": [python, "-m", "celery", "-A", "videochat", "worker", "--loglevel", "INFO"],
        "beat": [python, "-m", "celery", "-A", "videochat", "beat", "--loglevel", "INFO",
                 "--schedule", beat_schedule],
    }  # fmt: skip


def emit(text: str) -> None:
    with output_lock:
        sys.stdout.write(text)
        sys.stdout.flush()


def on_signal(signum: int, frame: FrameType | None) -> None:
    stop_signals.append(signum)


def banner(port: str) -> str:
    base = f"127.0.0.1:{port}"
    return (
        f"\n  videochat is running (Ctrl-C stops web, worker and beat):\n"
        f"    http://{base}/            web client\n"
        f"    http://{base}/api/docs/   API docs\n"
        f"    http://{base}/healthz     health\n"
        f"    http://{base}/admin/      admin\n"
        f"    ws://{base}/ws/           WebSocket (?token=<access JWT>)\n"
        f"  The demo logins are the ones seed_demo printed above.\n\n"
    )


def main() -> int:
    cfg = config()
    port = cfg["PORT"]
    if port_open("127.0.0.1", int(port)):
        emit(f"ERROR: port {port} is taken (another make run?); stop it or: make run PORT=...\n")
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    schedule = str(data_dir(cfg) / "celerybeat-schedule")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    processes = {
        # Each in a session of its own: Ctrl-C reaches only this supervisor, which then stops
        # each child once. They die with it even when it is killed with -9.
        name: Process(name, command, env=env, cwd=ROOT, die_with_parent=True)
        for name, command in commands(port, schedule).items()
    }
    for process in processes.values():
        process.start()
    relays = [process.relay(emit) for process in processes.values()]

    announced, exit_code = False, 0
    while not stop_signals:
        dead = {name: p.returncode for name, p in processes.items() if not p.running}
        if dead:
            name, code = next(iter(dead.items()))
            assert code is not None
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
            emit(tag("serve", f"{name} {how}: stopping the others"))
            exit_code = code if code > 0 else 1
            break
        if not announced and port_open("127.0.0.1", int(port), timeout=0.2):
            emit(banner(port))
            announced = True
        time.sleep(0.2)
    else:
        emit(tag("serve", f"{signal.Signals(stop_signals[0]).name}: stopping web, worker and beat"))

    # SIGTERM to each process alone: each stops its own children (the worker finishes its
    # tasks); SIGKILL to the groups still running after the timeout or at a second Ctrl-C.
    signals_seen = len(stop_signals)
    for process in stop_all(
        processes.values(),
        STOP_TIMEOUT_SECONDS,
        group=False,
        hurry=lambda: len(stop_signals) > signals_seen,
    ):
        emit(tag("serve", f"killed {process.name}"))
    for thread in relays:
        thread.join(timeout=2)
    emit(tag("serve", "stopped"))
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
