"""GET /adminpanel/exports/<kind>.csv (API.md, Staff and finance): who may download, the
dates, and what each export holds; the ledger's export reconciles with the ledger."""

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Group
from django.db.models import Sum
from django.test import Client
from django.utils import timezone

from accounts.models import User
from adminpanel.finance import exports
from adminpanel.finance.cells import csv_lines
from adminpanel.finance.exports import FORMULA_STARTS
from adminpanel.roles import FINANCE
from adminpanel.tests.finance_helpers import (
    CALL_RATE,
    GIFT_COST,
    HOST_SHARE,
    WITHDRAWN,
    MoneyDay,
    csv_rows,
    finance_staff,
    money_day,
    pin_money_rules,
)
from adminpanel.tests.two_factor_helpers import admin_login, confirmed_device, fresh_code
from gifts.models import Gift
from tests.factories import UserFactory
from tests.fixtures import access_token_for
from tests.helpers import assert_error
from wallet.ledger.models import Entry, EntryType, Transaction, TransactionKind, WalletKind
from wallet.ledger.services import Leg, system_wallet_id, wallet_ensure, wallet_transfer
from wallet.purchases.models import Purchase
from wallet.withdrawals.models import Withdrawal

pytestmark = pytest.mark.django_db

KINDS = ["transactions", "calls", "gifts", "withdrawals", "purchases"]


def url(kind: str) -> str:
    return f"/adminpanel/exports/{kind}.csv"


def today() -> dict[str, str]:
    day = timezone.now().date().isoformat()
    return {"from": day, "to": day}


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def download(
    client: Client, kind: str, params: dict[str, str], headers: dict[str, str] | None = None
) -> bytes:
    response = client.get(url(kind), params, headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{kind}-{params["from"]}-{params["to"]}.csv"'
    )
    assert response.streaming and not response.has_header("Content-Length")
    return response.getvalue()


@pytest.fixture
def fin() -> User:
    return finance_staff()


@pytest.fixture
def day(settings, alice, hana, fin) -> MoneyDay:
    pin_money_rules(settings)
    return money_day(payer=alice, host=hana, staff=fin)


def move(reference: str, coins: int, at: datetime | None = None) -> Transaction:
    """An adjustment of `coins` to a fresh user (reference as given), dated `at` if given."""
    user = UserFactory.create()
    key = f"test:{reference}:{user.pk}"
    transaction = wallet_transfer(
        kind=TransactionKind.ADJUSTMENT,
        idempotency_key=key,
        reference=reference,
        legs=[
            Leg(wallet_ensure(user_id=user.pk), coins, EntryType.ADJUSTMENT),
            Leg(
                system_wallet_id(kind=WalletKind.ADJUSTMENTS, key=key), -coins, EntryType.ADJUSTMENT
            ),
        ],
    ).transaction
    if at is not None:
        Transaction.objects.filter(pk=transaction.pk).update(created_at=at)
        Entry.objects.filter(transaction=transaction).update(created_at=at)
    return transaction


# --- What the exports hold ---------------------------------------------------------------------


def test_a_days_transactions_are_its_ledger_entries_and_sum_to_zero(fin, day, alice, hana):
    rows = csv_rows(download(logged_in(fin), "transactions", today()))

    start = datetime.combine(timezone.now().date(), datetime.min.time(), tzinfo=UTC)
    entries = Entry.objects.filter(created_at__gte=start, created_at__lt=start + timedelta(days=1))
    by_id = {entry.pk: entry for entry in entries.select_related("transaction", "wallet__owner")}
    assert sorted(int(row["entry_id"]) for row in rows) == sorted(by_id)
    assert sum(int(row["amount"]) for row in rows) == 0
    per_transaction: dict[str, int] = defaultdict(int)
    for row in rows:
        entry = by_id[int(row["entry_id"])]
        per_transaction[row["transaction_id"]] += int(row["amount"])
        owner = entry.wallet.owner
        assert row == {
            "transaction_id": str(entry.transaction_id),
            "kind": entry.transaction.kind,
            "entry_id": str(entry.pk),
            "wallet_id": str(entry.wallet_id),
            "wallet_kind": entry.wallet.kind,
            "user_id": str(owner.pk) if owner else "",
            "user_email": owner.email if owner else "",
            "entry_type": entry.type,
            "amount": str(entry.amount),
            "balance_after": str(entry.balance_after),
            "reference": entry.transaction.reference,
            "created_at": entry.transaction.created_at.astimezone(UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
        }
    assert set(per_transaction.values()) == {0}
    # Reconciles with the ledger: what each wallet got in the export is what it got.
    exported: dict[int, int] = defaultdict(int)
    for row in rows:
        exported[int(row["wallet_id"])] += int(row["amount"])
    assert exported == {
        wallet: total for wallet, total in entries.values_list("wallet_id").annotate(Sum("amount"))
    }
    # Every path of the day is in it, each transaction's entries together.
    kinds = [row["kind"] for row in rows]
    assert {
        "adjustment",
        "purchase",
        "call_charge",
        "gift",
        "withdrawal",
        "withdrawal_payout",
    } <= set(kinds)
    ids = [row["transaction_id"] for row in rows]
    runs = [t for n, t in enumerate(ids) if n == 0 or ids[n - 1] != t]
    assert len(runs) == len(set(runs))


def test_calls_gifts_withdrawals_and_purchases_have_their_rows(fin, day, alice, hana):
    client = logged_in(fin)
    [call] = csv_rows(download(client, "calls", today()))
    [gift] = csv_rows(download(client, "gifts", today()))
    [withdrawal] = csv_rows(download(client, "withdrawals", today()))
    [purchase] = csv_rows(download(client, "purchases", today()))

    assert call["call_id"] == str(day.call_id)
    assert (call["caller_email"], call["callee_email"]) == (alice.email, hana.email)
    assert (call["status"], call["end_reason"]) == ("ended", "hangup")
    assert (call["rate_per_minute"], call["periods_charged"]) == (str(CALL_RATE), "1")
    assert call["total_coins"] == str(CALL_RATE)
    assert int(call["duration_seconds"]) >= 0 and call["ended_at"].endswith("Z")

    host_coins = GIFT_COST * HOST_SHARE // 100
    assert gift["gift_send_id"] == str(day.gift.pk)
    assert (gift["sender_email"], gift["receiver_email"]) == (alice.email, hana.email)
    assert (gift["coins_spent"], gift["receiver_coins"]) == (str(GIFT_COST), str(host_coins))
    assert gift["platform_coins"] == str(GIFT_COST - host_coins)
    assert gift["transaction_id"] == str(day.gift.transfer_id)

    assert withdrawal["withdrawal_id"] == str(day.withdrawal.pk)
    assert (withdrawal["user_email"], withdrawal["coins"]) == (hana.email, str(WITHDRAWN))
    assert (withdrawal["status"], withdrawal["reviewed_by"]) == ("paid", fin.email)
    assert (withdrawal["first_approved_by"], withdrawal["review_note"]) == ("", "")
    assert withdrawal["paid_at"].endswith("Z")

    assert purchase["purchase_id"] == str(day.purchase.pk)
    assert (purchase["user_email"], purchase["coins"]) == (alice.email, "100")
    assert (purchase["price"], purchase["currency"]) == ("4.99", "USD")
    assert (purchase["status"], purchase["provider"]) == ("credited", "sandbox")
    assert purchase["transaction_id"] == str(day.purchase.credit_id)


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_range_is_the_header_alone(fin, kind):
    content = download(logged_in(fin), kind, {"from": "2001-01-01", "to": "2001-01-31"})
    assert content == csv_lines([exports.EXPORTS[kind].columns])


def test_the_range_is_whole_utc_days_both_ends_included(fin):
    first = datetime(2026, 3, 1, tzinfo=UTC)
    before = move("before", 1, first - timedelta(microseconds=1))
    start = move("start", 2, first)
    end = move("end", 3, first + timedelta(days=2) - timedelta(microseconds=1))
    after = move("after", 4, first + timedelta(days=2))

    rows = csv_rows(
        download(logged_in(fin), "transactions", {"from": "2026-03-01", "to": "2026-03-02"})
    )

    assert {row["transaction_id"] for row in rows} == {str(start.pk), str(end.pk)}
    assert {before.pk, after.pk}.isdisjoint(int(row["transaction_id"]) for row in rows)


def test_batches_go_on_where_the_last_stopped_also_within_one_instant(fin, monkeypatch):
    monkeypatch.setattr(exports, "BATCH_ROWS", 2)
    # A billing tick writes thousands of transactions at one instant.
    instant = datetime(2026, 3, 1, 12, tzinfo=UTC)
    made = [move(f"same-{n}", n + 1, instant) for n in range(7)]
    made.append(move("later", 8, instant + timedelta(seconds=1)))

    rows = csv_rows(
        download(logged_in(fin), "transactions", {"from": "2026-03-01", "to": "2026-03-01"})
    )

    assert [int(row["transaction_id"]) for row in rows[::2]] == [t.pk for t in made]
    assert len(rows) == 2 * len(made)
    assert len({row["entry_id"] for row in rows}) == len(rows)


def test_text_that_a_spreadsheet_would_run_is_neutralised_and_numbers_stay_numbers(fin):
    dangerous = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    for reference in dangerous:
        move(reference, 5)
    move("plain", 7)

    rows = csv_rows(download(logged_in(fin), "transactions", today()))

    references = {row["reference"] for row in rows}
    assert references == {"'" + reference for reference in dangerous} | {"plain"}
    # Signed amounts are written as numbers, not as neutralised text.
    assert sorted({row["amount"] for row in rows}) == ["-5", "-7", "5", "7"]


def test_every_text_cell_of_every_export_is_safe_and_numbers_stay_numbers(fin, day, alice, hana):
    # What users and providers choose, made to look like formulas.
    User.objects.filter(pk=alice.pk).update(email="=cmd|' /C calc'!A0@example.com")
    User.objects.filter(pk=hana.pk).update(email="+host@example.com")
    Gift.objects.update(name="@SUM(A1)")
    Purchase.objects.update(provider_ref="\tref")
    Withdrawal.objects.update(payout_ref="-1+1", refund_reason="\rwhy")
    client = logged_in(fin)

    for kind in KINDS:
        for row in csv_rows(download(client, kind, today())):
            for column, cell in row.items():
                if cell.startswith(FORMULA_STARTS):
                    assert re.fullmatch(r"-\d+(\.\d+)?", cell), (kind, column, cell)

    calls = csv_rows(download(client, "calls", today()))
    assert calls[0]["caller_email"] == "'=cmd|' /C calc'!A0@example.com"
    assert calls[0]["callee_email"] == "'+host@example.com"
    assert csv_rows(download(client, "gifts", today()))[0]["gift_name"] == "'@SUM(A1)"
    assert csv_rows(download(client, "purchases", today()))[0]["provider_ref"] == "'\tref"
    [withdrawal] = csv_rows(download(client, "withdrawals", today()))
    assert (withdrawal["payout_ref"], withdrawal["refund_reason"]) == ("'-1+1", "'\rwhy")
    amounts = [row["amount"] for row in csv_rows(download(client, "transactions", today()))]
    assert "-" + str(CALL_RATE) in amounts  # a signed number, written as one


def test_numbers_are_written_as_numbers():
    assert csv_lines([[-5, Decimal("-4.99"), None, 'a,"b"']]) == b'-5,-4.99,,"a,""b"""\r\n'


# --- Who may download ------------------------------------------------------------------------


def test_a_browser_without_a_session_is_sent_to_the_admin_login():
    params = today()
    response = Client().get(url("transactions"), params, HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert response.status_code == 302
    path = f"{url('transactions')}?from={params['from']}&to={params['to']}"
    assert response["Location"] == f"/admin/login/?next={quote(path, safe='/')}"


def test_a_client_without_session_or_token_gets_403_and_no_data(day):
    assert_error(Client().get(url("transactions"), today()), 403, "permission_denied")


@pytest.mark.parametrize("accept", ["text/html", "text/csv"])
def test_a_forged_export_url_from_a_non_staff_session_gets_403(day, alice, accept):
    response = logged_in(alice).get(url("transactions"), today(), HTTP_ACCEPT=accept)
    assert_error(response, 403, "permission_denied")
    assert alice.email.encode() not in response.content


def test_staff_without_the_finance_permission_get_403(day):
    staff = UserFactory.create(role="staff", is_staff=True)
    for kind in KINDS:
        assert_error(logged_in(staff).get(url(kind), today()), 403, "permission_denied")


def test_a_staff_member_who_was_deactivated_gets_403(day, fin):
    client = logged_in(fin)
    User.objects.filter(pk=fin.pk).update(is_active=False)
    response = client.get(url("transactions"), today(), HTTP_ACCEPT="text/html")
    # The session no longer authenticates anyone: a browser goes back to the login.
    assert response.status_code == 302


def test_a_staff_access_token_downloads(day, fin):
    token = access_token_for(fin)
    content = download(Client(), "purchases", today(), {"Authorization": f"Bearer {token}"})
    assert len(csv_rows(content)) == 1


@pytest.mark.parametrize("who", ["user", "host", "staff without the permission", "bad token"])
def test_other_tokens_get_403(day, alice, hana, who):
    token = {
        "user": lambda: access_token_for(alice),
        "host": lambda: access_token_for(hana),
        "staff without the permission": lambda: access_token_for(
            UserFactory.create(role="staff", is_staff=True)
        ),
        "bad token": lambda: "not-a-token",
    }[who]()
    response = Client().get(
        url("transactions"), today(), HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT="text/html"
    )
    assert_error(response, 403, "permission_denied")


def test_superusers_may_download():
    root = User.objects.create_superuser("root@example.com", "x", name="Root")
    assert download(logged_in(root), "calls", today()).startswith(b"call_id,")


# --- Bad requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-03-01"}, "from"),
        ({"from": "2026-03-01"}, "to"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
        ({"from": "20260301", "to": "2026-03-01"}, "from"),
        ({"from": "2026-03-01", "to": "tomorrow"}, "to"),
        ({"from": "2026-03-01T00:00", "to": "2026-03-01"}, "from"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ],
)
def test_bad_dates_are_400(fin, params, field):
    error = assert_error(logged_in(fin).get(url("gifts"), params), 400, "validation_error")
    assert field in error["details"]


def test_an_unknown_kind_is_404(fin):
    error = assert_error(logged_in(fin).get(url("balances"), today()), 404, "not_found")
    assert error["details"] == {"kinds": sorted(KINDS)}


def test_only_get_reads_an_export(fin):
    token = access_token_for(fin)
    response = Client().post(url("calls"), today(), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response, 405, "method_not_allowed")


# --- Where staff find them -------------------------------------------------------------------


LIST_PAGES = {
    "transactions": "/admin/wallet/transaction/",
    "calls": "/admin/calls/call/",
    "gifts": "/admin/gifts/giftsend/",
    "withdrawals": "/admin/wallet/withdrawal/",
    "purchases": "/admin/wallet/purchase/",
}


def test_the_admin_index_and_each_list_page_link_their_export():
    root = logged_in(User.objects.create_superuser("root@example.com", "x", name="Root"))
    index = root.get("/admin/").content.decode()
    assert 'href="/admin/finance/"' in index
    for kind, page in LIST_PAGES.items():
        assert f'formaction="{url(kind)}"' in index
        content = root.get(page).content.decode()
        assert f'formaction="{url(kind)}"' in content, kind
        assert 'name="from"' in content and 'name="to"' in content


def test_staff_without_the_permission_see_no_finance_links():
    staff = logged_in(UserFactory.create(role="staff", is_staff=True))
    assert "/adminpanel/exports/" not in staff.get("/admin/").content.decode()
    assert "/admin/finance/" not in staff.get("/admin/").content.decode()
    assert "/adminpanel/exports/" not in staff.get(LIST_PAGES["transactions"]).content.decode()


def test_an_account_with_two_factor_needs_the_session_that_gave_a_code(day, fin):
    device = confirmed_device(fin)
    token = access_token_for(fin)
    by_token = Client().get(url("calls"), today(), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(by_token, 403, "permission_denied")
    # A session that logged in without the code (before two-factor was turned on).
    assert_error(logged_in(fin).get(url("calls"), today()), 403, "permission_denied")

    client = Client()
    assert admin_login(client, fin, fresh_code(device)).status_code == 302
    assert download(client, "calls", today()).startswith(b"call_id,")


def test_required_two_factor_refuses_a_finance_token_until_set_up(day, fin, settings):
    settings.ADMIN_2FA_REQUIRED = True
    fin.groups.add(Group.objects.get(name=FINANCE))
    token = access_token_for(fin)
    response = Client().get(url("calls"), today(), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(response, 403, "permission_denied")


def test_a_withdrawal_row_says_who_approved_first_and_why_beat_left_it(day, fin):
    second = finance_staff("second@example.com")
    Withdrawal.objects.filter(pk=day.withdrawal.pk).update(
        first_approved_by=second,
        first_approved_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        review_note="For staff: above 20000 coins: two members of staff must approve it.",
    )

    [withdrawal] = csv_rows(download(logged_in(fin), "withdrawals", today()))

    assert withdrawal["first_approved_by"] == "second@example.com"
    assert withdrawal["first_approved_at"] == "2026-01-02T03:04:05.000000Z"
    assert withdrawal["review_note"].startswith("For staff: above 20000 coins")
    assert withdrawal["reviewed_by"] == fin.email
