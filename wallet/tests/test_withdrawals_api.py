"""POST and GET /api/v1/withdrawals: the coins are held at once, the bounds, hosts only, one
open withdrawal, Idempotency-Key replays, auto-approval, and the caller's own list."""

from typing import Any

import pytest

from accounts.models import User
from tests.factories import HostFactory
from tests.helpers import assert_error, balance, earn, fund
from wallet.ledger.models import Entry, Transaction, Wallet, WalletKind
from wallet.ledger.services import wallet_ensure
from wallet.tests.withdrawal_helpers import (
    AUTO_APPROVE_MAX,
    MAX_COINS,
    MIN_COINS,
    WITHDRAWALS,
    make_trusted,
)
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_reject, withdrawal_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("withdrawal_rules")]


def iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def as_listed(withdrawal: Withdrawal) -> dict[str, Any]:
    withdrawal.refresh_from_db()
    return {
        "id": withdrawal.pk,
        "coins": withdrawal.coins,
        "status": withdrawal.status,
        "created_at": iso(withdrawal.created_at),
        "reviewed_at": iso(withdrawal.reviewed_at),
        "paid_at": iso(withdrawal.paid_at),
        "rejection_reason": withdrawal.rejection_reason,
        "failed_at": iso(withdrawal.failed_at),
        "refunded_at": iso(withdrawal.refunded_at),
        "refund_reason": withdrawal.refund_reason,
        "amount": None if withdrawal.amount is None else f"{withdrawal.amount:.2f}",
        "currency": withdrawal.currency,
    }


# --- POST /withdrawals ---------------------------------------------------------------------


def test_a_request_holds_the_coins_at_once(client_for, hana):
    earn(hana, 3000)

    response = client_for(hana).post(WITHDRAWALS, {"coins": 1000}, format="json")

    assert response.status_code == 201, response.content
    withdrawal = Withdrawal.objects.get()
    assert response.json() == as_listed(withdrawal)
    assert response.json()["status"] == "pending"
    assert (withdrawal.user_id, withdrawal.coins, withdrawal.auto_approved) == (
        hana.pk,
        1000,
        False,
    )
    assert balance(hana) == 2000
    hold_wallet = Wallet.objects.get(pk=withdrawal.hold_wallet_id)
    assert (hold_wallet.kind, hold_wallet.balance) == (WalletKind.WITHDRAWAL_HOLD, 1000)
    entries = Entry.objects.filter(transaction=withdrawal.hold).order_by("amount")
    assert [(e.wallet_id, e.type, e.amount) for e in entries] == [
        (wallet_ensure(user_id=hana.pk), "withdrawal", -1000),
        (hold_wallet.pk, "withdrawal", 1000),
    ]
    assert withdrawal.hold.reference == f"withdrawal:{withdrawal.pk}"
    assert withdrawal.hold.idempotency_key == f"withdrawal:{withdrawal.pk}:hold"
    assert withdrawal.hold.metadata == {"withdrawal_id": withdrawal.pk}


@pytest.mark.parametrize("coins", [MIN_COINS - 1, MAX_COINS + 1])
def test_amounts_out_of_bounds_are_refused(client_for, hana, coins):
    earn(hana, 20_000)

    response = client_for(hana).post(WITHDRAWALS, {"coins": coins}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert error["details"] == {
        "coins": [f"Withdraw from {MIN_COINS} to {MAX_COINS} coins at a time."]
    }
    assert not Withdrawal.objects.exists()
    assert balance(hana) == 20_000


@pytest.mark.parametrize("coins", [MIN_COINS, MAX_COINS])
def test_the_bounds_themselves_are_allowed(client_for, hana, coins):
    earn(hana, 20_000)

    response = client_for(hana).post(WITHDRAWALS, {"coins": coins}, format="json")

    assert response.status_code == 201, response.content
    assert balance(hana) == 20_000 - coins


@pytest.mark.parametrize(
    "body", [{"coins": "1000"}, {"coins": 1000.5}, {"coins": True}, {"coins": None}, {}]
)
def test_coins_must_be_a_json_integer(client_for, hana, body):
    earn(hana, 3000)

    response = client_for(hana).post(WITHDRAWALS, body, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {"coins"}
    assert not Withdrawal.objects.exists()


def test_only_hosts_may_withdraw(client_for, alice):
    fund(alice, 3000)

    response = client_for(alice).post(WITHDRAWALS, {"coins": 1000}, format="json")

    assert_error(response, 403, "permission_denied")
    assert not Withdrawal.objects.exists()
    assert balance(alice) == 3000


def test_more_than_withdrawable_is_402_and_creates_nothing(client_for, hana):
    earn(hana, 999)

    response = client_for(hana).post(WITHDRAWALS, {"coins": 1000}, format="json")

    error = assert_error(response, 402, "insufficient_funds")
    assert error["details"] == {"withdrawable": 999, "needed": 1000}
    assert not Withdrawal.objects.exists()
    assert not Transaction.objects.filter(kind="withdrawal").exists()
    assert balance(hana) == 999


@pytest.mark.parametrize("first_status", ["pending", "approved"])
def test_one_open_withdrawal_at_a_time(client_for, hana, first_status):
    earn(hana, 5000)
    client = client_for(hana)
    first = client.post(WITHDRAWALS, {"coins": 1000}, format="json").json()
    Withdrawal.objects.filter(pk=first["id"]).update(status=first_status)

    response = client.post(WITHDRAWALS, {"coins": 1000}, format="json")

    error = assert_error(response, 409, "conflict")
    assert error["details"] == {"withdrawal_id": first["id"]}
    assert Withdrawal.objects.count() == 1
    assert balance(hana) == 4000


def test_after_a_rejection_the_host_may_ask_again(client_for, hana, staff):
    earn(hana, 5000)
    client = client_for(hana)
    first = client.post(WITHDRAWALS, {"coins": 1000}, format="json").json()
    withdrawal_reject(withdrawal_id=first["id"], staff=staff, reason="Check your details")

    response = client.post(WITHDRAWALS, {"coins": 2000}, format="json")

    assert response.status_code == 201, response.content
    assert balance(hana) == 3000


# --- Idempotency-Key -------------------------------------------------------------------------


def test_the_same_key_and_body_return_the_first_withdrawal(client_for, hana):
    earn(hana, 5000)
    client = client_for(hana)

    first = client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Withdrawal.objects.count() == 1
    assert Transaction.objects.filter(kind="withdrawal").count() == 1
    assert balance(hana) == 4000
    withdrawal = Withdrawal.objects.get()
    assert withdrawal.hold.reference == f"withdrawal:{withdrawal.pk}"


def test_a_replay_answers_the_withdrawal_as_it_is_now(client_for, hana, staff):
    earn(hana, 5000)
    client = client_for(hana)
    first = client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    withdrawal_reject(withdrawal_id=first.json()["id"], staff=staff, reason="No")

    again = client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert again.status_code == 201
    assert (again.json()["id"], again.json()["status"]) == (first.json()["id"], "rejected")
    assert balance(hana) == 5000


def test_the_same_key_with_other_coins_is_a_mismatch(client_for, hana):
    earn(hana, 5000)
    client = client_for(hana)
    client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    response = client.post(WITHDRAWALS, {"coins": 2000}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert_error(response, 409, "idempotency_mismatch")
    assert Withdrawal.objects.count() == 1
    assert balance(hana) == 4000


def test_keys_belong_to_one_host(client_for, hana):
    nina = HostFactory.create(email="nina@example.com")
    earn(hana, 5000)
    earn(nina, 5000)

    mine = client_for(hana).post(
        WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    hers = client_for(nina).post(
        WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert (mine.status_code, hers.status_code) == (201, 201)
    assert mine.json()["id"] != hers.json()["id"]
    assert (balance(hana), balance(nina)) == (4000, 4000)


def test_a_refused_request_does_not_use_up_its_key(client_for, hana):
    earn(hana, 500)
    client = client_for(hana)
    short = client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert short.status_code == 402
    earn(hana, 600)

    response = client.post(WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == 201, response.content
    assert balance(hana) == 100


def test_an_overlong_key_is_refused(client_for, hana):
    earn(hana, 5000)

    response = client_for(hana).post(
        WITHDRAWALS, {"coins": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 65
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["details"]) == {"Idempotency-Key"}
    assert not Withdrawal.objects.exists()


def test_a_request_waits_for_review_even_when_it_could_be_auto_approved(client_for, hana):
    make_trusted(hana)
    earn(hana, 5000)

    response = client_for(hana).post(WITHDRAWALS, {"coins": AUTO_APPROVE_MAX}, format="json")

    assert response.status_code == 201, response.content
    assert (response.json()["status"], response.json()["reviewed_at"]) == ("pending", None)
    assert not Withdrawal.objects.get().auto_approved


def _request_directly(host: User, coins: int) -> Withdrawal:
    return withdrawal_request(user=host, coins=coins)


# --- GET /withdrawals ------------------------------------------------------------------------


def test_hosts_page_through_their_own_withdrawals_newest_first(client_for, hana, staff):
    nina = HostFactory.create(email="nina@example.com")
    earn(hana, 5000)
    earn(nina, 5000)
    mine = []
    for coins in (100, 200, 300):
        mine.append(_request_directly(hana, coins))
        if coins != 300:
            withdrawal_reject(withdrawal_id=mine[-1].pk, staff=staff, reason="No")
    _request_directly(nina, 400)
    client = client_for(hana)

    first = client.get(WITHDRAWALS, {"limit": 2})
    assert first.status_code == 200
    assert set(first.json()) == {"results", "next"}
    assert first.json()["results"] == [as_listed(mine[2]), as_listed(mine[1])]
    assert first.json()["next"]

    second = client.get(WITHDRAWALS, {"limit": 2, "cursor": first.json()["next"]})
    assert second.json() == {"results": [as_listed(mine[0])], "next": None}


def test_the_list_defaults_to_twenty(client_for, hana, staff):
    earn(hana, 5000)
    for _ in range(21):
        withdrawal_reject(
            withdrawal_id=_request_directly(hana, MIN_COINS).pk, staff=staff, reason="No"
        )

    page = client_for(hana).get(WITHDRAWALS).json()

    assert len(page["results"]) == 20
    assert page["next"] is not None


def test_a_user_without_withdrawals_gets_an_empty_page(client_for, alice):
    assert client_for(alice).get(WITHDRAWALS).json() == {"results": [], "next": None}


@pytest.mark.parametrize("query", [{"cursor": "not a cursor"}, {"limit": "0"}, {"limit": "x"}])
def test_a_bad_cursor_or_limit_is_400(client_for, hana, query):
    assert_error(client_for(hana).get(WITHDRAWALS, query), 400, "validation_error")
