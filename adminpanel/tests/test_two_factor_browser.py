"""Two-factor in a real browser: a staff member turns it on from the admin with the secret the
page shows (as an authenticator app would read it), logs out, and logs in with a code."""

import re
from base64 import b32decode

import pytest
from playwright.sync_api import expect

from adminpanel.tests.two_factor_helpers import code_at, current_step
from tests.browser import chromium
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.browser

WAIT_MS = 10_000


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_staff_turn_two_factor_on_and_log_in_with_a_code(live_server):
    UserFactory.create(email="sam@example.com", role="staff", is_staff=True)
    outside: list[str] = []

    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on(
            "request",
            lambda request: (
                None if request.url.startswith(live_server.url) else outside.append(request.url)
            ),
        )
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", "sam@example.com")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.get_by_role("link", name="Two-factor authentication").click()

        expect(page.locator("#two-factor-qr svg")).to_be_visible()
        key = b32decode(page.inner_text("#two-factor-secret").replace(" ", ""))
        used = current_step()
        page.fill("#id_code", code_at(key, used))
        page.get_by_role("button", name="Turn on two-factor").click()
        expect(page.locator(".messagelist")).to_contain_text("Two-factor authentication is on")

        page.locator("#logout-form button").click()
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", "sam@example.com")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator(".errornote")).to_contain_text("enter your code")
        # The code already used does not pass again; the next one does.
        page.fill("#id_password", PASSWORD)
        page.fill("#id_otp_token", code_at(key, max(current_step(), used + 1)))
        page.click("input[type=submit]")

        expect(page).to_have_url(re.compile(r"/admin/$"))
        expect(page.get_by_role("heading", name="Operations")).to_be_visible()
        page.close()
    assert outside == []
