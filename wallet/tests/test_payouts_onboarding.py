"""A host's payout account at Stripe Connect (API.md, Wallet): POST /payouts/onboarding creates
her Express account once and answers a new onboarding link each time; GET /payouts/account
follows Stripe's signed `account.updated` events on the Connect webhook."""

import time

import pytest

from adminpanel.roles import FINANCE, SUPPORT
from tests.factories import StaffFactory
from tests.helpers import assert_error, logged_in
from tests.stripe_standin import (
    STRIPE_CONNECT_WEBHOOK_TEST_SECRET,
    stripe_api,  # noqa: F401
    stripe_signature,
)
from tests.threads import all_at_once
from wallet.payouts.models import PayoutAccount
from wallet.purchases.models import PaymentEvent
from wallet.tests.payouts_helpers import (
    ACCOUNT,
    ONBOARDING,
    account_object,
    connect_event_delivery,
    connect_fixture,  # noqa: F401
    deliver,
)

pytestmark = [pytest.mark.django_db]


def test_a_host_onboards_with_one_express_account_and_a_new_link_each_time(
    connect, hana, client_for
):
    client = client_for(hana)
    assert client.get(ACCOUNT).json() == {"status": "none"}

    first = client.post(ONBOARDING)
    second = client.post(ONBOARDING)

    assert first.status_code == second.status_code == 200
    (account_id,) = connect.accounts
    assert first.json()["url"].startswith(f"https://connect.stripe.com/setup/e/{account_id}/")
    assert first.json()["url"] != second.json()["url"]
    assert connect.keys("/v1/accounts") == [f"payout-account-user-{hana.pk}"]
    (created,) = connect.forms("/v1/accounts")
    assert created["email"] == hana.email
    assert created["metadata[user_id]"] == str(hana.pk)
    assert [f["account"] for f in connect.forms("/v1/account_links")] == [account_id] * 2
    account = PayoutAccount.objects.get(user=hana)
    assert (account.provider, account.account_id, account.status) == (
        "stripe",
        account_id,
        "pending",
    )
    assert client.get(ACCOUNT).json() == {"status": "pending"}


@pytest.mark.load
@pytest.mark.django_db(transaction=True)
def test_first_calls_at_once_make_one_account(connect, hana, client_for):
    client = client_for(hana)

    answers = all_at_once(4, lambda: client.post(ONBOARDING).status_code)

    assert answers == [200] * 4
    # Stripe answered every creation with the same account (one key), stored once.
    assert len(connect.accounts) == 1
    assert set(connect.keys("/v1/accounts")) == {f"payout-account-user-{hana.pk}"}
    assert PayoutAccount.objects.get(user=hana).account_id in connect.accounts


def test_only_hosts_have_payout_accounts(connect, alice, client_for):
    client = client_for(alice)

    assert_error(client.post(ONBOARDING), 403, "permission_denied")
    assert_error(client.get(ACCOUNT), 403, "permission_denied")
    assert connect.requests == []


def test_both_need_a_token(api):
    assert_error(api.post(ONBOARDING), 401, "not_authenticated")
    assert_error(api.get(ACCOUNT), 401, "not_authenticated")


def test_stripe_refusing_the_platform_is_a_503_and_stores_nothing(
    connect, hana, client_for, settings
):
    settings.STRIPE_SECRET_KEY = "sk_test_revoked"

    assert_error(client_for(hana).post(ONBOARDING), 503, "service_unavailable")
    assert not PayoutAccount.objects.exists()


def test_account_updated_enables_payouts_and_takes_the_currency(connect, hana, client_for):
    client = client_for(hana)
    client.post(ONBOARDING)
    account_id = PayoutAccount.objects.get(user=hana).account_id
    connect.enable(account_id, currency="eur")

    response = deliver(
        "account.updated", account_object(account_id, payouts_enabled=True, currency="eur")
    )

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}  # no coins moved
    assert client.get(ACCOUNT).json() == {"status": "enabled"}
    assert PayoutAccount.objects.get(user=hana).currency == "EUR"
    event = PaymentEvent.objects.get()
    assert (event.provider, event.event_type, event.provider_ref) == (
        "stripe_connect",
        "account.updated",
        account_id,
    )

    # Stripe stops paying out (e.g. it needs more documents): pending again.
    connect.enable(account_id, enabled=False)
    deliver("account.updated", account_object(account_id, payouts_enabled=False))
    assert client.get(ACCOUNT).json() == {"status": "pending"}


def test_an_older_event_delivered_late_does_not_undo_a_newer_one(connect, hana, client_for):
    """Stripe does not deliver in order: the account is read from Stripe, not the event."""
    client = client_for(hana)
    client.post(ONBOARDING)
    account_id = PayoutAccount.objects.get(user=hana).account_id
    connect.enable(account_id)
    deliver("account.updated", account_object(account_id, payouts_enabled=True))

    # The event of an hour ago, when onboarding was not finished yet, arrives now.
    response = deliver("account.updated", account_object(account_id, payouts_enabled=False))

    assert response.status_code == 200
    assert client.get(ACCOUNT).json() == {"status": "enabled"}
    assert connect.forms(f"/v1/accounts/{account_id}") == [{}, {}]


def test_when_stripe_cannot_be_asked_about_the_account_the_delivery_comes_again(
    connect, hana, client_for, settings
):
    client = client_for(hana)
    client.post(ONBOARDING)
    account_id = PayoutAccount.objects.get(user=hana).account_id
    connect.enable(account_id)
    settings.STRIPE_SECRET_KEY = "sk_test_rolled"

    response = deliver("account.updated", account_object(account_id, payouts_enabled=True))

    assert_error(response, 503, "service_unavailable")
    assert client.get(ACCOUNT).json() == {"status": "pending"}


def test_an_account_that_is_not_ours_is_acknowledged(connect):
    response = deliver("account.updated", account_object("acct_other", payouts_enabled=True))

    assert response.json() == {"status": "unknown_reference"}
    assert not PayoutAccount.objects.exists()


@pytest.mark.parametrize(
    "secret, age", [("whsec_wrong", 0), (None, 3600)], ids=["wrong secret", "too old"]
)
def test_a_delivery_with_a_bad_signature_changes_nothing(connect, hana, client_for, secret, age):
    client = client_for(hana)
    client.post(ONBOARDING)
    account_id = PayoutAccount.objects.get(user=hana).account_id
    extra = {"secret": secret} if secret else {}
    path, body, headers = connect_event_delivery(
        "account.updated",
        account_object(account_id, payouts_enabled=True),
        timestamp=int(time.time()) - age,
        **extra,
    )

    for _ in range(2):
        error = assert_error(
            client.post(path, body, content_type="application/json", headers=headers),
            400,
            "validation_error",
        )
    assert "Stripe-Signature" in error["details"]
    assert client.get(ACCOUNT).json() == {"status": "pending"}
    # Recorded once per distinct body, like the payment webhook's refusals.
    assert list(PaymentEvent.objects.values_list("provider", "outcome")) == [
        ("stripe_connect", "bad_signature")
    ]


def test_a_signed_body_that_is_not_an_event_is_refused(connect, api):
    path, _, _ = connect_event_delivery("account.updated", {"id": "acct_x"})
    body = b'{"type": "account.updated"}'
    response = api.post(
        path,
        body,
        content_type="application/json",
        headers={"Stripe-Signature": stripe_signature(body, STRIPE_CONNECT_WEBHOOK_TEST_SECRET)},
    )

    assert_error(response, 400, "validation_error")
    assert PaymentEvent.objects.get().outcome == "malformed"


def test_the_platform_endpoints_secret_is_accepted_beside_the_connect_one(
    connect, hana, client_for, settings
):
    """`transfer.reversed` comes from an endpoint of the platform's own account, signed with
    its own secret: both are configured, comma-separated."""
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = f"{STRIPE_CONNECT_WEBHOOK_TEST_SECRET}, whsec_platform"
    client = client_for(hana)
    client.post(ONBOARDING)
    account_id = PayoutAccount.objects.get(user=hana).account_id
    connect.enable(account_id)

    path, body, headers = connect_event_delivery(
        "account.updated", account_object(account_id, payouts_enabled=True), secret="whsec_platform"
    )

    assert (
        client.post(path, body, content_type="application/json", headers=headers).status_code == 200
    )
    assert client.get(ACCOUNT).json() == {"status": "enabled"}


def test_finance_sees_payout_accounts_in_the_admin_and_nobody_edits_them(connect, hana, client_for):
    client_for(hana).post(ONBOARDING)
    account = PayoutAccount.objects.get(user=hana)
    finance = logged_in(StaffFactory.create(roles=[FINANCE]))

    listed = finance.get("/admin/wallet/payoutaccount/")
    assert listed.status_code == 200
    assert account.account_id in listed.content.decode()
    change = f"/admin/wallet/payoutaccount/{account.pk}/change/"
    finance.post(change, {"status": "enabled", "account_id": "acct_other"})
    account.refresh_from_db()
    assert account.status == "pending"
    assert (
        logged_in(StaffFactory.create(roles=[SUPPORT]))
        .get("/admin/wallet/payoutaccount/")
        .status_code
        == 403
    )
