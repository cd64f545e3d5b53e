"""Issue 13, item 1, with real providers: a production process (DEBUG off, no sandbox)
configured with Stripe, the App Store and Google Play starts; one missing credential stops
every process at start-up with the setting named (wallet/providers_check.py), instead of
failing a user's first purchase or payout. The sandbox refusal itself is tested in
videochat/tests/test_settings.py."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from videochat.tests.test_settings import load_settings
from wallet.tests.appstore_helpers import APP_APPLE_ID, BUNDLE_ID, test_apple
from wallet.tests.googleplay_helpers import PACKAGE, service_account_file

pytestmark = pytest.mark.slow


@pytest.fixture
def real_money(tmp_path: Path) -> dict[str, str]:
    """A production environment on real providers (credentials of the tests' own)."""
    root = tmp_path / "apple-root.pem"
    root.write_bytes(test_apple().signer.root.public_bytes(Encoding.PEM))
    google_key = service_account_file(tmp_path, "https://oauth2.googleapis.com/token")
    return {
        "DEBUG": "0",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "example.com",
        "PAYMENT_PROVIDERS": "stripe,appstore,googleplay",
        "PAYOUT_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": "sk_live_" + "k" * 24,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 24,
        "STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_" + "c" * 24,
        "APPSTORE_BUNDLE_ID": BUNDLE_ID,
        "APPSTORE_APP_APPLE_ID": str(APP_APPLE_ID),
        "APPSTORE_ROOT_CERTIFICATES": str(root),
        "GOOGLEPLAY_PACKAGE_NAME": PACKAGE,
        "GOOGLEPLAY_SERVICE_ACCOUNT_FILE": str(google_key),
        "GOOGLEPLAY_PUBSUB_AUDIENCE": "https://example.com/api/v1/payments/webhook/googleplay",
        "GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT": "push@example.iam.gserviceaccount.com",
    }


def test_production_starts_on_real_providers(real_money):
    result = load_settings(real_money)

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "missing",
    [
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "APPSTORE_BUNDLE_ID",
        "APPSTORE_ROOT_CERTIFICATES",
        "GOOGLEPLAY_SERVICE_ACCOUNT_FILE",
        "GOOGLEPLAY_PUBSUB_AUDIENCE",
    ],
)
def test_a_missing_credential_stops_start_up_with_its_name(real_money, missing):
    result = load_settings({**real_money, missing: ""})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_the_payout_provider_s_credentials_are_checked_too(real_money):
    only_payouts = {**real_money, "PAYMENT_PROVIDERS": "appstore", "STRIPE_SECRET_KEY": ""}

    result = load_settings(only_payouts)

    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY" in result.stderr
