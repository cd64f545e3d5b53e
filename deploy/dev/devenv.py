"""What every development script shares: the project's configuration (real environment over
`.env` over the documented defaults), where local data lives, the records of the servers
`make` started, and the one way to install a missing Debian package.

Standard library only: `make stop` runs before (or without) the virtualenv.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / ".env"
ENV_EXAMPLE = ROOT / ".env.example"

# The documented defaults (API.md, Configuration), the same ones videochat/settings.py uses.
DEFAULTS = {
    "PORT": "8000",
    "DATABASE_URL": "postgres://127.0.0.1:5432/videochat",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "MONGO_URL": "mongodb://127.0.0.1:27017/videochat",
    "DEV_DATA_DIR": ".data",
}

# Keys whose example value is replaced by a fresh random one when `.env` is written.
SECRET_KEYS = ("SECRET_KEY", "PAYMENTS_SANDBOX_SECRET")

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class SetupError(Exception):
    """A problem the developer has to act on; the message says what to run."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines, read the way python-dotenv (the settings' reader) reads the simple
    ones: comments, blank lines, quotes and an `export ` prefix."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:  # like python-dotenv: " #" starts a comment after an unquoted value
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


def config() -> dict[str, str]:
    """Settings as the Django process will see them: the environment wins over `.env`."""
    merged = {**DEFAULTS, **read_env_file(ENV_FILE)}
    merged.update({key: value for key, value in os.environ.items() if value != ""})
    return merged


def write_env_file() -> None:
    """Write a development `.env` from `.env.example` with fresh secrets, unless one exists."""
    if ENV_FILE.exists():
        return
    if not ENV_EXAMPLE.exists():
        raise SetupError(f"{ENV_EXAMPLE} is missing; it is the template for .env")
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key in SECRET_KEYS:
            line = f"{key}={secrets.token_urlsafe(48)}"
        lines.append(line)
    ENV_FILE.write_text("\n".join(lines) + "\n")
    ENV_FILE.chmod(0o600)
    say(".env written from .env.example (DEBUG=1, fresh SECRET_KEY and sandbox secret)")


def url_of(cfg: dict[str, str], name: str) -> SplitResult:
    parts = urlsplit(cfg[name])
    try:
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        raise SetupError(f"{name}={cfg[name]!r} has a bad port") from None
    if not parts.hostname:
        raise SetupError(f"{name}={cfg[name]!r} names no host")
    return parts


def is_local(host: str | None) -> bool:
    return host in LOCAL_HOSTS


def data_dir(cfg: dict[str, str]) -> Path:
    """Local server data, logs and run records (`DEV_DATA_DIR`, default `.data`)."""
    path = Path(cfg["DEV_DATA_DIR"])
    return path if path.is_absolute() else ROOT / path


def run_dir(cfg: dict[str, str]) -> Path:
    path = data_dir(cfg) / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- Records of the servers `make` started (only these are stopped by `make stop`) -------


def record_started(cfg: dict[str, str], name: str, **details: object) -> None:
    (run_dir(cfg) / f"{name}.json").write_text(json.dumps(details) + "\n")


def started_records(cfg: dict[str, str]) -> dict[str, dict[str, object]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(run_dir(cfg).glob("*.json"))}


def forget_started(cfg: dict[str, str], name: str) -> None:
    (run_dir(cfg) / f"{name}.json").unlink(missing_ok=True)


# --- Debian packages ------------------------------------------------------------------------

_apt_updated = False


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(packages: list[str], why: str) -> None:
    """Install Debian packages as root; otherwise stop with the exact command to run."""
    global _apt_updated
    names = " ".join(packages)
    if shutil.which("apt-get") is None:
        raise SetupError(f"{why}: install {names} with your system's package manager")
    if not is_root():
        raise SetupError(
            f"{why}. Run this, then make again:\n"
            f"    sudo apt-get update && sudo apt-get install -y {names}"
        )
    say(f"{why}: apt-get install -y {names}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update"], check=True, env=env)
        _apt_updated = True
    subprocess.run(["apt-get", "install", "-y", *packages], check=True, env=env)


def fail(error: SetupError) -> None:
    print(f"\nERROR: {error}\n", file=sys.stderr, flush=True)
    sys.exit(1)
