"""Forged traffic on the payment webhook can't fill the disk: deliveries that fail
verification (bad signature, malformed) are throttled per client address and stored once per
distinct body, while the provider's valid deliveries, however many and from however few
addresses, are never throttled nor counted."""

import logging
from typing import Any

import pytest
from django.test import Client

from tests.helpers import assert_error
from wallet.purchases.models import PaymentEvent, Purchase
from wallet.tests.purchase_helpers import WEBHOOK, buy, event, sign

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("payment_sandbox")]

LIMIT = 5


@pytest.fixture(autouse=True)
def refused_limit(settings: Any) -> None:
    settings.PAYMENT_WEBHOOK_REFUSED_RATE = (LIMIT, 60)


def post(body: bytes, signature: str, ip: str = "203.0.113.7", **headers: str) -> Any:
    return Client(REMOTE_ADDR=ip).post(
        WEBHOOK,
        body,
        content_type="application/json",
        headers={"X-Signature": signature, **headers},
    )


def forged(n: int) -> bytes:
    return b'{"type": "payment.succeeded", "provider_ref": "sandbox_%d"}' % n


def test_forged_deliveries_get_429_while_valid_ones_from_the_same_address_pass(alice, caplog):
    purchase = buy(alice)
    with caplog.at_level(logging.WARNING, logger="wallet.purchases.services"):
        for n in range(LIMIT):
            assert post(forged(n), "0" * 64).status_code == 400
        limited = post(forged(LIMIT), "0" * 64)

        error = assert_error(limited, 429, "rate_limited")
        assert limited["Retry-After"] == str(error["details"]["retry_after"])
        assert 1 <= error["details"]["retry_after"] <= 60

        # The provider, from the same address, 200 times, with forged ones in between.
        for n in range(200):
            body = event(purchase) if n == 0 else event(purchase, provider_ref=f"gone_{n}")
            assert post(body, sign(body)).status_code == 200
            if n % 50 == 0:
                assert post(forged(1000 + n), "0" * 64).status_code == 429

    purchase.refresh_from_db()
    assert purchase.status == Purchase.Status.CREDITED
    refused = PaymentEvent.objects.filter(outcome="bad_signature")
    assert refused.count() == LIMIT
    # Throttled deliveries are neither stored nor logged.
    assert caplog.text.count("refused") == LIMIT


def test_the_limit_is_per_client_address(alice):
    for n in range(LIMIT + 1):
        post(forged(n), "0" * 64, ip="198.51.100.1")
    assert post(forged(99), "0" * 64, ip="198.51.100.1").status_code == 429
    assert post(forged(99), "0" * 64, ip="198.51.100.2").status_code == 400


def test_behind_the_proxy_the_client_address_counts(alice, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for n in range(LIMIT + 1):
        post(forged(n), "0" * 64, ip="127.0.0.1", X_Forwarded_For="198.51.100.9")
    limited = post(forged(99), "0" * 64, ip="127.0.0.1", X_Forwarded_For="198.51.100.9")
    assert limited.status_code == 429
    other = post(forged(99), "0" * 64, ip="127.0.0.1", X_Forwarded_For="198.51.100.10")
    assert other.status_code == 400


def test_signed_malformed_deliveries_count_too(alice):
    for n in range(LIMIT):
        body = b"not json %d" % n
        assert post(body, sign(body)).status_code == 400
    body = b"not json again"
    assert post(body, sign(body)).status_code == 429
    assert PaymentEvent.objects.filter(outcome="malformed").count() == LIMIT


@pytest.mark.load
def test_a_thousand_identical_forged_deliveries_store_one_row(alice):
    body = forged(1)
    for n in range(1000):
        # From many addresses, so no throttle hides what is stored.
        assert post(body, "0" * 64, ip=f"10.0.{n // 250}.{n % 250 + 1}").status_code == 400

    (stored,) = PaymentEvent.objects.all()
    assert (stored.outcome, stored.body) == ("bad_signature", body.decode())


def test_the_same_body_refused_for_another_reason_is_stored_again(alice):
    body = b"not json"
    post(body, "0" * 64)  # bad signature
    post(body, sign(body))  # signed, malformed
    post(body, sign(body))

    assert sorted(PaymentEvent.objects.values_list("outcome", flat=True)) == [
        "bad_signature",
        "malformed",
    ]


def test_valid_deliveries_are_all_stored(alice):
    purchase = buy(alice)
    body = event(purchase)
    for _ in range(3):
        assert post(body, sign(body)).status_code == 200

    assert list(PaymentEvent.objects.order_by("id").values_list("outcome", flat=True)) == [
        "credited",
        "duplicate",
        "duplicate",
    ]
