"""`make run`'s foreground: uvicorn (HTTP + WebSocket), a Celery worker and Celery beat as one
command, each output line tagged with the process it came from. Ctrl-C or SIGTERM stops all
three; when one exits on its own, the others are stopped and this exits non-zero."""

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from types import FrameType

from devenv import ROOT, config, data_dir, port_open

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


def die_with_parent() -> None:
    """In the child: get SIGTERM if this supervisor dies without cleaning up (kill -9)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Its own session: Ctrl-C reaches only this supervisor, which then stops each child once.
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent,
    )  # fmt: skip


def relay(name: str, process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        emit(f"{name:<6} | {raw.decode(errors='replace').rstrip()}\n")


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


def stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each (each stops its own pool); SIGKILL to whatever is left after the
    timeout or at a second Ctrl-C."""
    signals_seen = len(stop_signals)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while running := {name: p for name, p in processes.items() if p.poll() is None}:
        if time.monotonic() > deadline or len(stop_signals) > signals_seen:
            for name, process in running.items():
                emit(f"serve  | killing {name}\n")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            break
        time.sleep(0.1)


def main() -> int:
    cfg = config()
    port = cfg["PORT"]
    if port_open("127.0.0.1", int(port)):
        emit(f"ERROR: port {port} is taken (another make run?); stop it or: make run PORT=...\n")
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    schedule = str(data_dir(cfg) / "celerybeat-schedule")
    processes = {name: start(name, command) for name, command in commands(port, schedule).items()}
    relays = [
        threading.Thread(target=relay, args=(name, process), daemon=True)
        for name, process in processes.items()
    ]
    for thread in relays:
        thread.start()

    announced, exit_code = False, 0
    while not stop_signals:
        dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        if dead:
            name, code = next(iter(dead.items()))
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited ({code})"
            emit(f"serve  | {name} {how}: stopping the others\n")
            exit_code = code if code > 0 else 1
            break
        if not announced and port_open("127.0.0.1", int(port), timeout=0.2):
            emit(banner(port))
            announced = True
        time.sleep(0.2)
    else:
        emit(f"serve  | {signal.Signals(stop_signals[0]).name}: stopping web, worker and beat\n")

    stop_all(processes)
    for thread in relays:
        thread.join(timeout=2)
    emit("serve  | stopped\n")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
