"""Settings for the test suite: the same reader and settings as production, pointed at
separate stores so tests never touch development data. Only values the suite must control
are forced; everything else comes from the environment as usual."""

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("SECRET_KEY", "test-secret-key-long-enough-for-the-production-check")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ["DEBUG"] = "0"


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


# Redis database 15 and its own key/channel prefix; MongoDB database <name>_test.
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = _with_path(_redis, "/15")
os.environ["REDIS_PREFIX"] = "videochat-test"
_mongo = os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/videochat")
_mongo_db = urlsplit(_mongo).path.strip("/") or "videochat"
if not _mongo_db.endswith("_test"):
    _mongo_db += "_test"
os.environ["MONGO_URL"] = _with_path(_mongo, "/" + _mongo_db)

from videochat.settings import *  # noqa: E402, F403

# Argon2 is deliberately slow; tests create hundreds of users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
