"""tests/settings.py: the suite checks the product rules at their documented defaults,
whatever a developer's environment or .env sets them to (a lower THROTTLE_REGISTER, a short
CALL_BILLING_PERIOD_SECONDS, to try something by hand); a process a test starts keeps the
values the test gives it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import ROOT, run_python

pytestmark = pytest.mark.slow  # each starts an interpreter and sets Django up

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['register'], "
    "s.CALL_BILLING_PERIOD_SECONDS, s.STUN_URLS, s.DEBUG]))"
)
DEFAULTS = ["5/min", 60, ["stun:stun.l.google.com:19302"], False]


def test_a_developers_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("CALL_BILLING_PERIOD_SECONDS=7\nSTUN_URLS=stun:stun.example.com\nDEBUG=1\n")
    # A developer's shell: where the stores are, and a setting changed to try something.
    developer = {
        name: os.environ[name]
        for name in (
            "PATH",
            "HOME",
            "LANG",
            "TEST_RUN_ID",
            "DATABASE_URL",
            "REDIS_URL",
            "MONGO_URL",
        )
        if name in os.environ
    }
    developer.update(
        DJANGO_SETTINGS_MODULE="tests.settings", ENV_FILE=str(env_file), THROTTLE_REGISTER="2/min"
    )
    result = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env=developer,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == DEFAULTS


def test_a_process_a_test_starts_keeps_what_the_test_gives_it() -> None:
    given = {"THROTTLE_REGISTER": "2/min", "CALL_BILLING_PERIOD_SECONDS": "7"}
    result = run_python(SHOW, env=given)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == ["2/min", 7, DEFAULTS[2], False]
