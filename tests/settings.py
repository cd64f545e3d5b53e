"""Settings for the test suite: the same reader and settings as production, pointed at
separate stores so tests never touch development data, and every other setting at its
documented default whatever the developer's environment or .env says."""

import os
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from dotenv import load_dotenv

# Of the developer's configuration (the environment over .env) the suite takes where the
# stores are, and nothing else: what else it sets (a lower THROTTLE_REGISTER, a short
# CALL_BILLING_PERIOD_SECONDS, to try something by hand) is dropped, so every setting is at
# the default the tests assert on. A test that wants another value sets it: the `settings`
# fixture, or `env=` for the processes it starts (tests/servers.py). Those inherit this
# environment with the test's values on top, and TEST_SETTINGS_PINNED has them keep it.
if "TEST_SETTINGS_PINNED" not in os.environ:
    _settings = Path(__file__).resolve().parents[1] / "videochat" / "settings.py"
    # Every variable the settings read: the names in its env_*("NAME", ...) calls.
    _read = set(re.findall(r"\benv_\w+\(\s*\"(\w+)\"", _settings.read_text()))
    _env_file = os.environ.get("ENV_FILE", str(_settings.parents[1] / ".env"))
    if _env_file:
        load_dotenv(_env_file, override=False)  # under the environment, as the settings do
    for _name in _read - {"DATABASE_URL", "REDIS_URL", "MONGO_URL"}:
        os.environ.pop(_name, None)
    os.environ["ENV_FILE"] = ""  # read: the settings must not bring the dropped ones back
    os.environ["TEST_SETTINGS_PINNED"] = "1"

os.environ.setdefault("SECRET_KEY", "test-secret-key-long-enough-for-the-production-check")
# Required with DEBUG off while the sandbox provider is on (tests that need it unset say so).
os.environ.setdefault("PAYMENTS_SANDBOX_SECRET", "test-sandbox-secret")
# The suite runs with DEBUG off on the sandbox providers, as a staging deployment would
# (tests of the production refusal unset these).
os.environ.setdefault("PAYMENTS_ALLOW_SANDBOX", "1")
os.environ.setdefault("PAYMENT_PROVIDERS", "sandbox")
os.environ.setdefault("PAYOUT_PROVIDER", "sandbox")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ["DEBUG"] = "0"


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


# TEST_RUN_ID (letters, digits, _) gives one run stores of its own, so several test runs can
# share this machine's servers at once: database test_videochat_<id>, Redis keys and channels
# under videochat-test-<id>, MongoDB database videochat_<id>_test.
_run = os.environ.get("TEST_RUN_ID", "")
if _run and not _run.replace("_", "").isalnum():
    raise SystemExit(f"TEST_RUN_ID={_run!r}: use letters, digits and _ only")
# pytest-xdist's processes (gw0, gw1, ...) are runs of their own too.
_run = "_".join(part for part in (_run, os.environ.get("PYTEST_XDIST_WORKER", "")) if part)
_db = os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/videochat")
# (Server processes that tests start are handed the test database itself: keep it.)
if _run and not urlsplit(_db).path.strip("/").startswith("test_"):
    os.environ["DATABASE_URL"] = _with_path(_db, f"/videochat_{_run}")

# Redis database 15 with a key/channel prefix of its own; MongoDB database <name>_test.
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = _with_path(_redis, "/15")
os.environ["REDIS_PREFIX"] = f"videochat-test-{_run}" if _run else "videochat-test"
_mongo = os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/videochat")
_mongo_db = urlsplit(_mongo).path.strip("/") or "videochat"
# (Server processes that tests start inherit the already-derived name: keep it.)
if _run and not _mongo_db.endswith(f"_{_run}_test"):
    _mongo_db += f"_{_run}"
if not _mongo_db.endswith("_test"):
    _mongo_db += "_test"
os.environ["MONGO_URL"] = _with_path(_mongo, "/" + _mongo_db)

from videochat.settings import *  # noqa: E402, F403

# Argon2 is deliberately slow; tests create hundreds of users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The same PostgreSQL backend with a flush that deletes rows instead of truncating tables
# (tests/postgresql/base.py): a second saved after every transactional test.
DATABASES["default"]["ENGINE"] = "tests.postgresql"  # noqa: F405
# A test database is thrown away: its commits need not wait for the disk (a session setting
# of the test's own connections; the server and every other database keep theirs).
DATABASES["default"]["OPTIONS"]["options"] = "-c synchronous_commit=off"  # noqa: F405
