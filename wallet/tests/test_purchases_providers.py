"""The provider interface's sandbox implementation and the registry: what counts as a signed,
well-formed event. (What an event does is tested through the webhook endpoint.)"""

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from wallet.purchases.providers import (
    BadSignature,
    MalformedWebhook,
    SandboxProvider,
    UnknownProvider,
    WebhookEvent,
    payment_provider,
)
from wallet.tests.purchase_helpers import SANDBOX_SECRET, sign

pytestmark = pytest.mark.usefixtures("payment_sandbox")


def signed(body: bytes, secret: str = SANDBOX_SECRET) -> dict[str, str]:
    return {"X-Signature": sign(body, secret)}


EVENT = (
    b'{"type": "payment.succeeded", "provider_ref": "sandbox_1", "amount": "4.99", '
    b'"currency": "USD"}'
)


def test_a_signed_event_is_read_with_an_exact_amount():
    event = SandboxProvider().parse_webhook(EVENT, signed(EVENT))

    assert event == WebhookEvent(
        type="payment.succeeded", provider_ref="sandbox_1", amount=Decimal("4.99"), currency="USD"
    )


def test_the_signature_may_come_in_upper_case_hex():
    headers = {"X-Signature": signed(EVENT)["X-Signature"].upper()}

    assert SandboxProvider().parse_webhook(EVENT, headers).provider_ref == "sandbox_1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Signature": ""},
        {"X-Signature": "not hex at all é"},
        signed(EVENT, secret="another-secret"),
        signed(EVENT + b" "),
    ],
    ids=["missing", "empty", "garbage", "other-secret", "other-body"],
)
def test_anything_but_the_body_s_own_signature_is_refused(headers):
    with pytest.raises(BadSignature):
        SandboxProvider().parse_webhook(EVENT, headers)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[1, 2]",
        b"[" * 100_000,
        b'{"provider_ref": "r", "amount": "1.00", "currency": "USD"}',
        b'{"type": "", "provider_ref": "r", "amount": "1.00", "currency": "USD"}',
        b'{"type": "payment.succeeded", "amount": "1.00", "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": 7, "amount": "1.00", "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "' + b"r" * 101 + b'", "amount": "1", '
        b'"currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": true, "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": "-1", "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": "1_000", "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": "NaN", "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": NaN, "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": 1e2, "currency": "USD"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": "1.00"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": "1.00", "currency": "US"}',
        b'{"type": "payment.succeeded", "provider_ref": "r", "amount": "1.00", "currency": "U$D"}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_malformed(body):
    with pytest.raises(MalformedWebhook):
        SandboxProvider().parse_webhook(body, signed(body))


def test_a_json_number_amount_is_read_exactly_and_the_currency_upper_cased():
    body = b'{"type": "payment.failed", "provider_ref": "r", "amount": 4.99, "currency": "usd"}'

    event = SandboxProvider().parse_webhook(body, signed(body))

    assert (event.amount, event.currency) == (Decimal("4.99"), "USD")


def test_the_sandbox_refuses_to_work_without_its_secret(settings):
    settings.PAYMENTS_SANDBOX_SECRET = None

    with pytest.raises(ImproperlyConfigured, match="PAYMENTS_SANDBOX_SECRET"):
        SandboxProvider()


def test_the_registry_serves_enabled_providers_only(settings):
    assert isinstance(payment_provider(), SandboxProvider)
    assert isinstance(payment_provider("sandbox"), SandboxProvider)
    with pytest.raises(UnknownProvider):
        payment_provider("stripe")

    settings.PAYMENT_PROVIDERS = []
    with pytest.raises(UnknownProvider):
        payment_provider("sandbox")
    with pytest.raises(ImproperlyConfigured, match="PAYMENT_PROVIDERS is empty"):
        payment_provider()

    settings.PAYMENT_PROVIDERS = ["paypal", "sandbox"]
    with pytest.raises(ImproperlyConfigured, match="'paypal', which has no implementation"):
        payment_provider()
