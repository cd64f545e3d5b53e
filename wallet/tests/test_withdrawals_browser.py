"""Two members of the finance staff approve a large withdrawal in a real browser, through the
admin's confirmation page; the first of them cannot give the second approval as well
(docs/staff.md, "Withdrawal review").

The withdrawal review screenshot in docs/staff.md comes from here: with UPDATE_SCREENSHOTS=1
the test writes it to docs/img/ (otherwise to its tmp_path, so a run leaves the tree clean)."""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Browser, Page

from accounts.models import User
from adminpanel.roles import FINANCE
from tests.browser import chromium
from tests.factories import PASSWORD, HostFactory, StaffFactory
from tests.helpers import earn
from wallet.tests.withdrawal_helpers import TWO_APPROVALS_ABOVE, pin_withdrawal_rules
from wallet.withdrawals.models import Withdrawal
from wallet.withdrawals.services import withdrawal_request

# A real browser against Django's live server (a thread of this process).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def screenshot_path(tmp_path: Path, name: str) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        return Path(django_settings.BASE_DIR) / "docs" / "img" / name
    return tmp_path / name


def logged_in_page(browser: Browser, url: str, staff: User) -> Page:
    """A page of its own browser context (its own session) with `staff` logged in."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{url}/admin/")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    return page


def approve(page: Page, url: str, withdrawal: Withdrawal, screenshot: Path | None = None) -> str:
    """Select the withdrawal in the list, choose "Approve", confirm; the message shown."""
    page.goto(f"{url}/admin/wallet/withdrawal/")
    page.check(f"input[name=_selected_action][value='{withdrawal.pk}']")
    page.select_option("select[name=action]", "approve_selected")
    page.click("button[name=index]")
    page.wait_for_selector("text=Approve withdrawals")
    if screenshot is not None:
        page.screenshot(path=screenshot, full_page=True)
    page.click("input[type=submit][value=Approve]")
    return page.inner_text("ul.messagelist")


def test_two_members_of_staff_approve_a_large_withdrawal(live_server, settings, tmp_path):
    pin_withdrawal_rules(settings)
    first_staff = StaffFactory.create(email="fay@example.com", name="Fay", roles=[FINANCE])
    second_staff = StaffFactory.create(email="sam@example.com", name="Sam", roles=[FINANCE])
    host = HostFactory.create(email="hana@example.com", name="Hana")
    earn(host, 10_000)
    withdrawal = withdrawal_request(user=host, coins=TWO_APPROVALS_ABOVE + 1)

    with chromium() as browser:
        fay = logged_in_page(browser, live_server.url, first_staff)
        first = approve(fay, live_server.url, withdrawal)
        again = approve(fay, live_server.url, withdrawal)
        sam = logged_in_page(browser, live_server.url, second_staff)
        review = screenshot_path(tmp_path, "withdrawal-review.png")
        second = approve(sam, live_server.url, withdrawal, screenshot=review)

    assert f"First approval recorded for #{withdrawal.pk}" in first
    assert "Skipped 1" in again and "a second member of staff must approve" in again
    assert "Approved (or given a first approval): 1" in second
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.first_approved_by, withdrawal.reviewed_by) == (
        "approved",
        first_staff,
        second_staff,
    )
