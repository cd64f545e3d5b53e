"""Withdrawals paid by Stripe Connect (API.md, Wallet): refused with 409 `payouts_not_enabled`
until the host's payout account is enabled; an approved withdrawal carries the `amount` and
`currency` it pays (PAYOUT_COIN_RATES, fixed at approval) and becomes a Transfer to her
connected account under the withdrawal's idempotency key, `paid` when Stripe made it."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.factories import HostFactory
from tests.helpers import assert_error, balance, earn
from tests.payloads import as_pushed, as_rendered
from tests.stripe_standin import stripe_api  # noqa: F401
from wallet.ledger.reconcile import ledger_check
from wallet.tests.payouts_helpers import (
    connect_fixture,  # noqa: F401
    onboard,
    stripe_error,
)
from wallet.tests.withdrawal_helpers import WITHDRAWALS, make_trusted
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.payloads import withdrawal_data
from wallet.withdrawals.providers import PayoutRequest, StripePayoutProvider, payout_provider
from wallet.withdrawals.serializers import WithdrawalSerializer
from wallet.withdrawals.services import (
    PAYOUT_MAX_ATTEMPTS,
    withdrawal_approve,
    withdrawal_payout_retry,
)
from wallet.withdrawals.tasks import withdrawals_process

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("withdrawal_rules")]

TRANSFERS = "/v1/transfers"


def request_withdrawal(client, coins: int = 1000) -> Withdrawal:
    response = client.post(WITHDRAWALS, {"coins": coins}, format="json")
    assert response.status_code == 201, response.content
    return Withdrawal.objects.get(pk=response.json()["id"])


def test_withdrawals_wait_for_an_enabled_payout_account(connect, hana, client_for):
    earn(hana, 3000)
    client = client_for(hana)

    error = assert_error(
        client.post(WITHDRAWALS, {"coins": 1000}, format="json"), 409, "payouts_not_enabled"
    )
    assert error["details"] == {"payout_account": "none"}

    client.post("/api/v1/payouts/onboarding")
    error = assert_error(
        client.post(WITHDRAWALS, {"coins": 1000}, format="json"), 409, "payouts_not_enabled"
    )
    assert error["details"] == {"payout_account": "pending"}
    # Nothing was held.
    assert (balance(hana), Withdrawal.objects.count()) == (3000, 0)

    onboard(hana, connect)
    request_withdrawal(client)
    assert balance(hana) == 2000


def test_the_sandbox_pays_hosts_without_an_account(hana, client_for):
    earn(hana, 3000)

    request_withdrawal(client_for(hana))


@pytest.mark.parametrize(
    "account_currency, amount, currency, minor",
    [
        ("usd", "5.00", "USD", "500"),
        ("eur", "4.60", "EUR", "460"),
        ("jpy", "750.00", "JPY", "750"),  # no minor units
        ("gbp", "5.00", "USD", "500"),  # no rate for GBP: the default currency
    ],
)
def test_an_approved_withdrawal_is_paid_by_a_transfer_to_the_host(
    connect, hana, client_for, staff, account_currency, amount, currency, minor
):
    earn(hana, 3000)
    account_id = onboard(hana, connect, currency=account_currency)
    client = client_for(hana)
    withdrawal = request_withdrawal(client)
    pending = client.get(WITHDRAWALS).json()["results"][0]
    assert (pending["amount"], pending["currency"]) == (None, "")

    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)
    assert withdrawals_process() == 1

    assert connect.forms(TRANSFERS, "POST") == [
        {
            "amount": minor,
            "currency": currency.lower(),
            "destination": account_id,
            "transfer_group": f"withdrawal-{withdrawal.pk}",
            "metadata[withdrawal_id]": str(withdrawal.pk),
        }
    ]
    assert connect.keys(TRANSFERS) == [f"withdrawal-{withdrawal.pk}"]
    withdrawal.refresh_from_db()
    assert withdrawal.status == "paid"
    assert withdrawal.payout_ref == next(iter(connect.transfers))
    shown = client.get(WITHDRAWALS).json()["results"][0]
    assert (shown["status"], shown["amount"], shown["currency"]) == ("paid", amount, currency)
    assert ledger_check().ok


def test_the_amount_is_fixed_when_approved(connect, hana, client_for, staff, settings):
    earn(hana, 3000)
    onboard(hana, connect)
    withdrawal = request_withdrawal(client_for(hana))
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)

    settings.PAYOUT_COIN_RATES = ["USD=0.01"]
    withdrawals_process()

    assert connect.forms(TRANSFERS, "POST")[0]["amount"] == "500"
    withdrawal.refresh_from_db()
    assert (withdrawal.status, str(withdrawal.amount)) == ("paid", "5.00")


def test_an_auto_approved_withdrawal_is_priced_too(connect, client_for):
    host = HostFactory.create()
    make_trusted(host)
    earn(host, 3000)
    onboard(host, connect)
    withdrawal = request_withdrawal(client_for(host), coins=400)

    assert withdrawals_process() == 1

    withdrawal.refresh_from_db()
    assert (withdrawal.auto_approved, withdrawal.status) == (True, "paid")
    assert (str(withdrawal.amount), withdrawal.currency) == ("2.00", "USD")
    assert connect.forms(TRANSFERS, "POST")[0]["amount"] == "200"


def test_a_refused_transfer_is_retried_with_the_same_key_then_fails(
    connect, hana, client_for, staff
):
    earn(hana, 3000)
    onboard(hana, connect)
    withdrawal = request_withdrawal(client_for(hana))
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)
    connect.transfer_failures.extend(
        stripe_error(
            400,
            "invalid_request_error",
            "You have insufficient available funds in your Stripe account.",
            code="balance_insufficient",
        )
        for _ in range(PAYOUT_MAX_ATTEMPTS)
    )

    for _ in range(PAYOUT_MAX_ATTEMPTS):
        withdrawals_process()

    withdrawal.refresh_from_db()
    assert withdrawal.status == "failed"
    assert "insufficient available funds" in withdrawal.payout_error
    assert connect.keys(TRANSFERS) == [f"withdrawal-{withdrawal.pk}"] * PAYOUT_MAX_ATTEMPTS
    assert connect.transfers == {}
    assert balance(hana) == 2000  # still held, as today

    # Staff top up the platform's balance and send it back to the sweep: the same key pays.
    withdrawal_payout_retry(withdrawal_id=withdrawal.pk, staff=staff)
    assert withdrawals_process() == 1
    assert connect.keys(TRANSFERS)[-1] == f"withdrawal-{withdrawal.pk}"
    withdrawal.refresh_from_db()
    assert withdrawal.status == "paid"


def test_a_repeated_transfer_request_gets_the_first_transfer(connect, hana, client_for, staff):
    """A worker that died after Stripe made the transfer: the next attempt's same key gets
    the same transfer back, so the host is paid once."""
    earn(hana, 3000)
    account_id = onboard(hana, connect)
    withdrawal = request_withdrawal(client_for(hana))
    withdrawal = withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)
    assert withdrawal.amount is not None
    first = StripePayoutProvider().send(
        PayoutRequest(
            idempotency_key=f"withdrawal-{withdrawal.pk}",
            user_id=hana.pk,
            coins=withdrawal.coins,
            amount=withdrawal.amount,
            currency=withdrawal.currency,
            destination=account_id,
            withdrawal_id=withdrawal.pk,
        )
    )

    withdrawals_process()

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.payout_ref) == ("paid", first)
    assert len(connect.transfers) == 1


def test_a_retry_after_stripe_forgot_the_key_finds_the_transfer_by_its_group(
    connect, hana, client_for, staff
):
    """Staff retry a failed payout days later, when Stripe no longer knows the key; the
    transfer had gone through (the answer was lost)."""
    earn(hana, 3000)
    account_id = onboard(hana, connect)
    withdrawal = withdrawal_approve(
        withdrawal_id=request_withdrawal(client_for(hana)).pk, staff=staff
    )
    assert withdrawal.amount is not None
    made = StripePayoutProvider().send(
        PayoutRequest(
            idempotency_key=f"withdrawal-{withdrawal.pk}",
            user_id=hana.pk,
            coins=withdrawal.coins,
            amount=withdrawal.amount,
            currency=withdrawal.currency,
            destination=account_id,
            withdrawal_id=withdrawal.pk,
        )
    )
    connect.forget_idempotency_keys()

    assert withdrawals_process() == 1

    assert len(connect.transfers) == 1
    assert Withdrawal.objects.get(pk=withdrawal.pk).payout_ref == made


def test_the_pushed_withdrawal_shows_the_amount_as_the_api_does(connect, hana, client_for, staff):
    earn(hana, 3000)
    onboard(hana, connect, currency="jpy")
    withdrawal = request_withdrawal(client_for(hana))
    withdrawal_approve(withdrawal_id=withdrawal.pk, staff=staff)

    for stage in ("approved", "paid"):
        withdrawal.refresh_from_db()
        assert withdrawal.status == stage
        assert as_pushed(withdrawal_data(withdrawal)) == as_rendered(
            WithdrawalSerializer(withdrawal).data
        )
        assert withdrawal_data(withdrawal)["amount"] == "750.00"
        withdrawals_process()


@pytest.mark.parametrize(
    "setting, value, named",
    [
        ("STRIPE_SECRET_KEY", "", "STRIPE_SECRET_KEY"),
        ("STRIPE_CONNECT_WEBHOOK_SECRET", "", "STRIPE_CONNECT_WEBHOOK_SECRET"),
        ("PAYOUT_COIN_RATES", ["USD=cheap"], "PAYOUT_COIN_RATES"),
        ("PAYOUT_DEFAULT_CURRENCY", "GBP", "PAYOUT_DEFAULT_CURRENCY"),
    ],
)
def test_the_stripe_provider_names_a_missing_setting(connect, settings, setting, value, named):
    """What the start-up check of the providers (DEBUG off) reports."""
    payout_provider()  # configured: fine
    setattr(settings, setting, value)

    with pytest.raises(ImproperlyConfigured, match=named):
        payout_provider()
