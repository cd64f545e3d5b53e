"""A finance staff member in a real browser: logs in to the admin, opens the dashboard (its
charts drawn, with data) and downloads every export for a range of days from the admin index;
each file parses with the rows of that range.

The dashboard's screenshot in docs/staff.md comes from here: with UPDATE_SCREENSHOTS=1 the
test writes it to docs/img/ (otherwise to its tmp_path, so a run leaves the tree clean)."""

import csv
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from adminpanel.tests.finance_helpers import finance_staff, money_day, pin_money_rules
from calls.models import Call
from gifts.models import GiftSend
from tests.browser import chromium
from tests.factories import PASSWORD, HostFactory, UserFactory
from wallet.ledger.models import Entry
from wallet.purchases.models import Purchase
from wallet.withdrawals.models import Withdrawal

# A real browser against Django's live server (a thread of this process).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAYS = 6
DATED_TABLES = [
    "wallet_transaction",
    "wallet_entry",
    "wallet_purchase",
    "wallet_withdrawal",
    "calls_call",
    "gifts_giftsend",
]


def days_of_money(staff) -> None:
    """A money day (finance_helpers.money_day) on each of the last DAYS days, by other payers
    and two hosts, so the charts have bars on several days."""
    hosts = [HostFactory.create(name="Hana"), HostFactory.create(name="Ines")]
    for back in range(DAYS):
        since = timezone.now()
        money_day(payer=UserFactory.create(), host=hosts[back % 2], staff=staff)
        with connection.cursor() as cursor:
            for table in DATED_TABLES:
                cursor.execute(
                    f"UPDATE {table} SET created_at = created_at - make_interval(days => %s)"  # noqa: S608
                    " WHERE created_at >= %s",
                    [back, since],
                )


def screenshot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return Path(django_settings.BASE_DIR) / "docs" / "img" / name
    return tmp_path / name


def test_finance_reads_the_dashboard_and_downloads_every_export(live_server, settings, tmp_path):
    pin_money_rules(settings)
    staff = finance_staff()
    days_of_money(staff)
    today = timezone.now().date()
    first = today - timedelta(days=DAYS - 1)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", staff.email)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#finance-module")

        page.click("text=Finance dashboard")
        page.wait_for_selector("svg.finance-chart")
        charts = page.locator("svg.finance-chart").count()
        bars = page.locator("svg.finance-chart rect.bar").count()
        top_hosts = page.inner_text("#top-hosts")
        page.screenshot(path=screenshot_path(tmp_path, "finance-dashboard.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/")
        page.fill("#finance-module input[name=from]", first.isoformat())
        page.fill("#finance-module input[name=to]", today.isoformat())
        files: dict[str, list[dict[str, str]]] = {}
        for kind in ["transactions", "calls", "gifts", "withdrawals", "purchases"]:
            with page.expect_download() as download:
                page.click(f"#finance-module button[data-kind={kind}]")
            assert download.value.suggested_filename == f"{kind}-{first}-{today}.csv"
            content = Path(download.value.path()).read_text()
            files[kind] = list(csv.DictReader(io.StringIO(content)))
        page.close()

    # Six coin charts and one per currency; bars on every day of each series.
    assert charts == 6
    assert bars >= 6 * DAYS
    assert "Hana" in top_hosts and "Ines" in top_hosts

    assert len(files["transactions"]) == Entry.objects.count()
    assert sum(int(row["amount"]) for row in files["transactions"]) == 0
    assert len({row["created_at"][:10] for row in files["transactions"]}) == DAYS
    for kind, model in [
        ("calls", Call),
        ("gifts", GiftSend),
        ("withdrawals", Withdrawal),
        ("purchases", Purchase),
    ]:
        ids = sorted(int(row[next(iter(row))]) for row in files[kind])
        assert ids == sorted(model.objects.values_list("pk", flat=True)), kind  # type: ignore[attr-defined]
        assert len(ids) == DAYS
