"""Redis for development: use whatever answers on the REDIS_URL port; when nothing does and the
host is local, start a throw-away `redis-server` (no persistence) under the data directory,
installing the package first as root when it is missing."""

import shutil
import subprocess
import time
from typing import Any

from devenv import (
    SetupError,
    apt_install,
    data_dir,
    is_local,
    record_started,
    run_dir,
    say,
    url_of,
)
from processes import port_open, process_cmdline, terminate_pid


def ensure_redis(cfg: dict[str, str]) -> None:
    url = url_of(cfg, "REDIS_URL")
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if _ping(cfg["REDIS_URL"]):
        say(f"redis: using the server on {host}:{port}")
        return
    if port_open(host, port):
        raise SetupError(
            f"something listens on {host}:{port} (REDIS_URL) but does not answer PING as Redis "
            f"(a password missing from REDIS_URL?); fix REDIS_URL in .env or free the port"
        )
    if not is_local(host):
        raise SetupError(f"Redis at {host}:{port} (REDIS_URL) does not answer")
    if shutil.which("redis-server") is None:
        apt_install(["redis-server"], f"Redis is not installed (REDIS_URL wants port {port})")
        if _wait(cfg["REDIS_URL"], seconds=5):  # the package started the machine's server
            say(f"redis: using the server on {host}:{port} (started by the package)")
            return
    directory = data_dir(cfg) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    pidfile = run_dir(cfg) / "redis.pid"
    say(f"redis: starting redis-server on 127.0.0.1:{port} (data in {directory})")
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
         "--save", "", "--appendonly", "no", "--dir", str(directory),
         "--pidfile", str(pidfile), "--logfile", str(data_dir(cfg) / "redis.log")],
        check=True,
    )  # fmt: skip
    if not _wait(cfg["REDIS_URL"], seconds=10):
        raise SetupError(
            f"redis-server did not answer on port {port}; see {data_dir(cfg) / 'redis.log'}"
        )
    record_started(cfg, "redis", pid=int(pidfile.read_text()), port=port)


def stop_redis(details: dict[str, Any]) -> None:
    pid = int(details["pid"])
    if "redis-server" not in process_cmdline(pid):
        say("redis: the redis-server make started is no longer running")
        return
    say(f"redis: stopping redis-server on port {details['port']} (pid {pid}, make started it)")
    terminate_pid(pid, timeout=15)


def _ping(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def _wait(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _ping(url):
            return True
        time.sleep(0.2)
    return False
