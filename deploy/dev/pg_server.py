"""PostgreSQL for development: use the server DATABASE_URL names; when it is local and down,
start the machine's cluster on that port with pg_ctlcluster (installing PostgreSQL first, as
root, when it is missing); then create the database if it does not exist."""

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote

from devenv import (
    SetupError,
    apt_install,
    is_local,
    is_root,
    record_started,
    say,
    started_records,
    url_of,
)
from processes import port_open


@dataclass
class Cluster:
    version: str
    name: str
    port: int
    status: str
    owner: str


def ensure_postgres(cfg: dict[str, str]) -> None:
    url = url_of(cfg, "DATABASE_URL")
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    if port_open(host, port):
        say(f"postgres: using the server on {host}:{port}")
    elif not is_local(host):
        raise SetupError(f"PostgreSQL at {host}:{port} (DATABASE_URL) does not answer")
    else:
        _start_cluster(cfg, host, port)
    _create_database(cfg, url)


def stop_postgres(details: dict[str, Any]) -> None:
    command = _ctl(str(details["version"]), str(details["cluster"]), "stop")
    say(f"postgres: stopping cluster {details['version']}/{details['cluster']} (make started it)")
    subprocess.run(command, check=False)


def _ctl(version: str, cluster: str, action: str) -> list[str]:
    # --skip-systemctl-redirect: act on the cluster itself, also where systemd is absent.
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, action]


def _clusters() -> list[Cluster]:
    out = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout
    clusters = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[2].isdigit():
            clusters.append(Cluster(fields[0], fields[1], int(fields[2]), fields[3], fields[4]))
    return clusters


def _start_cluster(cfg: dict[str, str], host: str, port: int) -> None:
    installed = False
    if shutil.which("pg_lsclusters") is None:
        apt_install(["postgresql"], f"PostgreSQL is not installed (DATABASE_URL wants port {port})")
        installed = True
    matching = [cluster for cluster in _clusters() if cluster.port == port]
    if not matching:
        existing = ", ".join(f"{c.version}/{c.name} on {c.port}" for c in _clusters()) or "none"
        raise SetupError(
            f"no PostgreSQL cluster uses port {port} (DATABASE_URL); clusters: {existing}.\n"
            f"    Change the port in DATABASE_URL (.env), or create one:\n"
            f"    sudo pg_createcluster --port {port} --start <version> videochat"
        )
    cluster = matching[0]
    if not cluster.status.startswith("online"):
        command = _ctl(cluster.version, cluster.name, "start")
        if not is_root() and os.getuid() != pwd.getpwnam(cluster.owner).pw_uid:
            raise SetupError(
                f"PostgreSQL cluster {cluster.version}/{cluster.name} (port {port}) is stopped. "
                f"Start it, then make again:\n    sudo {' '.join(command)}"
            )
        say(f"postgres: starting cluster {cluster.version}/{cluster.name} on port {port}")
        subprocess.run(command, check=True)
    elif not installed:
        raise SetupError(
            f"PostgreSQL cluster {cluster.version}/{cluster.name} is online but nothing answers "
            f"on {host}:{port}: check listen_addresses in "
            f"/etc/postgresql/{cluster.version}/{cluster.name}/postgresql.conf"
        )
    record_started(
        cfg, "postgres", version=cluster.version, cluster=cluster.name, installed=installed
    )
    deadline = time.monotonic() + 30
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise SetupError(f"PostgreSQL did not open {host}:{port} within 30 s")
        time.sleep(0.5)


def _connect(url: SplitResult, dbname: str) -> Any:
    import psycopg

    options: dict[str, Any] = dict(
        pair.split("=", 1) for pair in url.query.split("&") if "=" in pair
    )
    return psycopg.connect(
        host=url.hostname,
        port=url.port or 5432,
        user=unquote(url.username or "") or "postgres",
        password=unquote(url.password or "") or None,
        dbname=dbname,
        connect_timeout=5,
        autocommit=True,
        **options,
    )


def _create_database(cfg: dict[str, str], url: SplitResult) -> None:
    import psycopg
    from psycopg import sql

    name = unquote(url.path.lstrip("/"))
    if not name:
        raise SetupError(f"DATABASE_URL={cfg['DATABASE_URL']!r} names no database")
    for attempt in range(20):
        try:
            conn = _connect(url, "postgres")
            break
        except psycopg.OperationalError as error:
            if "password" in str(error) and _set_dev_password(cfg, url):
                continue
            if "password" in str(error):
                raise SetupError(_auth_help(url, error)) from None
            if attempt == 19 or "starting up" not in str(error):
                raise SetupError(f"PostgreSQL: {error}") from None
            time.sleep(0.5)
    with conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if found:
            say(f"postgres: database {name} exists")
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            say(f"postgres: created database {name}")


def _set_dev_password(cfg: dict[str, str], url: SplitResult) -> bool:
    """Give the DATABASE_URL role its password, only on a server `make` has just installed
    (a fresh Debian cluster asks TCP clients for a password no role has yet)."""
    record = started_records(cfg).get("postgres", {})
    password = unquote(url.password or "")
    if not (record.get("installed") and password and is_root()) or record.get("password_set"):
        return False
    user = unquote(url.username or "") or "postgres"
    script = (
        "SELECT format('CREATE ROLE %I', :'user') WHERE NOT EXISTS "
        "(SELECT FROM pg_roles WHERE rolname = :'user') \\gexec\n"
        "ALTER ROLE :\"user\" WITH LOGIN SUPERUSER PASSWORD :'password';\n"
    )
    say(f"postgres: giving role {user} the password from DATABASE_URL (fresh server)")
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-p", str(url.port or 5432), "-q",
         "-v", "ON_ERROR_STOP=1", "-v", f"user={user}", "-v", f"password={password}"],
        input=script, text=True, check=True,
    )  # fmt: skip
    record_started(cfg, "postgres", **record, password_set=True)
    return True


def _auth_help(url: SplitResult, error: Exception) -> str:
    user = unquote(url.username or "") or "postgres"
    where = f"{url.hostname}:{url.port or 5432}"
    return (
        f"PostgreSQL on {where} refused role {user}: {str(error).strip()}\n"
        f"    Put the role's password in DATABASE_URL in .env "
        f"(postgres://{user}:PASSWORD@{where}/...), or give the role that password:\n"
        f"    sudo -u postgres psql -p {url.port or 5432} -c "
        f"\"ALTER ROLE {user} WITH PASSWORD 'PASSWORD'\""
    )
