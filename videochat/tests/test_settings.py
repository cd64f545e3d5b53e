import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from videochat import env

ROOT = Path(__file__).resolve().parents[2]


def load_settings(overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import the production settings module in a fresh interpreter with only the given
    environment, as a deployer's process would (ENV_FILE empty: no development .env)."""
    clean = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    clean.update(
        PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="videochat.settings", ENV_FILE="", **overrides
    )
    code = "import django; django.setup(); from django.conf import settings; print(settings.PORT)"
    return subprocess.run(
        [sys.executable, "-c", code],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )


# A staging deployment: production settings on the sandbox providers, allowed explicitly.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "example.com",
    "PAYMENTS_ALLOW_SANDBOX": "1",
    "PAYMENT_PROVIDERS": "sandbox",
    "PAYOUT_PROVIDER": "sandbox",
    "PAYMENTS_SANDBOX_SECRET": "s" * 32,
}


@pytest.mark.slow
def test_production_refuses_to_start_without_secret_key():
    result = load_settings({**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_allowed_hosts():
    result = load_settings({**PRODUCTION, "ALLOWED_HOSTS": ""})
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


@pytest.mark.slow
def test_production_starts_with_both():
    result = load_settings({**PRODUCTION, "PORT": "9001"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "9001"


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        {"PAYMENTS_ALLOW_SANDBOX": ""},
        {"PAYMENTS_ALLOW_SANDBOX": "0", "PAYOUT_PROVIDER": "stripe"},
        {"PAYMENTS_ALLOW_SANDBOX": "0", "PAYMENT_PROVIDERS": "stripe"},
    ],
    ids=["both", "payments", "payouts"],
)
def test_production_refuses_play_money(overrides):
    result = load_settings({**PRODUCTION, **overrides})
    assert result.returncode != 0
    assert "The sandbox payment or payout provider moves play money" in result.stderr
    assert "PAYMENTS_ALLOW_SANDBOX=1" in result.stderr


@pytest.mark.slow
def test_production_defaults_to_no_provider_at_all():
    # Nothing configured: no sandbox by default, so the deployer must choose.
    overrides = {"PAYMENTS_ALLOW_SANDBOX": "", "PAYMENT_PROVIDERS": "", "PAYOUT_PROVIDER": ""}
    result = load_settings({**PRODUCTION, **overrides})
    assert result.returncode != 0
    assert "PAYOUT_PROVIDER is not set" in result.stderr


@pytest.mark.slow
def test_a_staging_deployment_without_the_sandbox_secret_does_not_start():
    result = load_settings({**PRODUCTION, "PAYMENTS_SANDBOX_SECRET": ""})
    assert result.returncode != 0
    assert "PAYMENTS_SANDBOX_SECRET is not set" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "is not a whole number"),
        ("PORT", "70000", "above the maximum"),
        ("DEBUG", "maybe", "is not a boolean"),
        ("HOST_SHARE_PERCENT", "150", "above the maximum"),
        ("CALL_BILLING_PERIOD_SECONDS", "0", "below the minimum"),
        ("REDIS_URL", "localhost:6379", "is not a URL"),
        ("DATABASE_URL", "mysql://127.0.0.1/videochat", "is not a URL"),
        ("DATABASE_POOL_MAX_SIZE", "0", "below the minimum"),
        ("DATABASE_POOL_MIN_SIZE", "21", "above the maximum 20"),
        ("DATABASE_POOL_TIMEOUT_SECONDS", "0", "below the minimum"),
        ("THROTTLE_PAYMENT_WEBHOOK_REFUSED", "many/min", "is not a rate"),
        ("MATCH_RATE", "ten/min", "is not a rate"),
        ("CALL_INVITE_RATE", "0/min", "is not a rate"),
        ("CALL_INVITE_RATE", "10/fortnight", "is not a rate"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name, value, message):
    result = load_settings({**PRODUCTION, name: value})
    assert result.returncode != 0
    assert name in result.stderr and message in result.stderr


def test_env_reader_functions(monkeypatch):
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    monkeypatch.setenv("X_BOOL", "On")
    monkeypatch.setenv("X_INT", "12")
    assert env.env_list("X_LIST") == ["a", "b", "c"]
    assert env.env_bool("X_BOOL", False) is True
    assert env.env_int("X_INT", 1, minimum=10) == 12
    assert env.env_int("X_MISSING", 7) == 7
    with pytest.raises(ImproperlyConfigured, match="X_INT=12 is above the maximum 5"):
        env.env_int("X_INT", 1, maximum=5)


def test_database_url_is_parsed_into_django_settings():
    db = env.database_from_url("postgres://app:s%40cret@db.internal:6432/main?sslmode=require")
    assert db["NAME"] == "main"
    assert db["USER"] == "app"
    assert db["PASSWORD"] == "s@cret"
    assert db["HOST"] == "db.internal"
    assert db["PORT"] == "6432"
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("value", "rate"),
    [("30/min", (30, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600)), (" 2 / day ", (2, 86400))],
)
def test_rates_read_as_count_and_window(monkeypatch, value, rate):
    monkeypatch.setenv("X_RATE", value)
    assert env.env_rate("X_RATE", "1/min") == rate


@pytest.mark.parametrize("value", ["0/min", "-1/min", "30", "30/fortnight", "1.5/s"])
def test_bad_rates_are_refused(monkeypatch, value):
    monkeypatch.setenv("X_RATE", value)
    with pytest.raises(ImproperlyConfigured, match=r"X_RATE=.* is not a rate"):
        env.env_rate("X_RATE", "1/min")


def test_env_rate_reads_counts_per_period(monkeypatch):
    for value, rate in [("10/min", (10, 60)), ("5/s", (5, 1)), ("100/hour", (100, 3600))]:
        monkeypatch.setenv("X_RATE", value)
        assert env.env_rate("X_RATE", "1/day") == rate
    assert env.env_rate("X_MISSING", "3/day") == (3, 86400)
