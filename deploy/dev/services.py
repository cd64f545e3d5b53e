"""The local servers behind `make`:

    services.py up        write .env if missing, then PostgreSQL (+ database), Redis, MongoDB
    services.py stop      stop only the servers `make` started (recorded in <data dir>/run/)
    services.py status    which servers answer, and which of them `make` started
    services.py chromium  make sure /usr/bin/chromium exists (browser tests)

Servers already answering on the ports named by DATABASE_URL, REDIS_URL and MONGO_URL are
used as they are and never stopped.
"""

import fcntl
import sys
from pathlib import Path

from devenv import (
    SetupError,
    apt_install,
    config,
    fail,
    run_dir,
    say,
    started_records,
    url_of,
    write_env_file,
)
from processes import port_open

CHROMIUM = Path("/usr/bin/chromium")


def up() -> None:
    from mongo_server import ensure_mongo
    from pg_server import ensure_postgres
    from redis_server import ensure_redis

    write_env_file()
    cfg = config()
    # Two `make test` at once in one checkout must not both start a mongod.
    with (run_dir(cfg) / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_postgres(cfg)
        ensure_redis(cfg)
        ensure_mongo(cfg)


def stop() -> None:
    from devenv import forget_started
    from mongo_server import stop_mongo
    from pg_server import stop_postgres
    from redis_server import stop_redis

    cfg = config()
    stoppers = {"mongo": stop_mongo, "redis": stop_redis, "postgres": stop_postgres}
    records = started_records(cfg)
    if not records:
        say("nothing to stop: make started no server (the ones it found running stay up)")
    for name, details in records.items():
        stoppers[name](details)
        forget_started(cfg, name)


def status() -> None:
    cfg = config()
    records = started_records(cfg)
    servers = (("postgres", "DATABASE_URL", 5432), ("redis", "REDIS_URL", 6379),
               ("mongo", "MONGO_URL", 27017))  # fmt: skip
    for name, variable, default_port in servers:
        url = url_of(cfg, variable)
        host, port = url.hostname or "127.0.0.1", url.port or default_port
        where = f"{host}:{port}"
        state = "up" if port_open(host, port) else "down"
        owner = "started by make" if name in records else "not started by make"
        print(f"{name:9} {where:22} {state:5} {owner}")


def chromium() -> None:
    if CHROMIUM.exists():
        return
    apt_install(["chromium"], f"the browser tests need {CHROMIUM}")


def main() -> None:
    commands = {"up": up, "stop": stop, "status": status, "chromium": chromium}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    try:
        commands[sys.argv[1]]()
    except SetupError as error:
        fail(error)


if __name__ == "__main__":
    main()
