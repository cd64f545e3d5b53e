"""A paid video call end to end ("Video calls", item 6): a real uvicorn, Celery worker and
beat (3-second billing periods, a tick every second), and two headless Chromium pages with
fake cameras running the web client. A user and a host log in through the page; the user
calls the host, the host accepts, both peer connections reach `connected` with signaling
over /ws/ only; the caller's balance falls by the rate at accept and at every period; the
caller hangs up. Then the call log and the ledger agree to the coin. (And a second call,
declined, costs nothing.)"""

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum
from playwright.sync_api import Browser, Page, expect

from calls.models import Call
from tests.browser import chromium
from tests.factories import PASSWORD, HostFactory, UserFactory
from tests.fixtures import access_token_for
from tests.servers import Servers, running_servers
from wallet.ledger.models import Entry
from wallet.ledger.services import wallet_adjust, wallet_of_user

pytestmark = [
    pytest.mark.servers,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

PERIOD = 3  # seconds per billed "minute"
RATE = 10  # the host's coins per minute
START = 1000  # the caller's coins
EXTRA_PERIODS = 2  # periods to see charged after the one paid at accept
WAIT_MS = 15_000
# Fake camera and microphone, permission granted without a prompt; WebRTC may use the
# loopback interface (this machine has no outside network: host candidates are enough).
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]


# Test instrumentation: every balance the page shows from now on, with the time it came.
RECORD_BALANCES = """() => {
  const balance = document.getElementById("balance");
  window.balances = [];
  new MutationObserver(() => window.balances.push([Number(balance.dataset.balance), Date.now()]))
    .observe(balance, { attributes: true, attributeFilter: ["data-balance"] });
}"""


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    call_settings = {
        "CALL_BILLING_PERIOD_SECONDS": str(PERIOD),
        "CALL_TICK_SECONDS": "1",
        "STUN_URLS": "",  # no outside network: no STUN server to ask
        "TURN_URLS": "",
    }
    with running_servers(tmp_path, worker=True, beat=True, env=call_settings) as started:
        yield started


def open_client(browser: Browser, servers: Servers, email: str) -> Page:
    """A page of its own browser context (its own sessionStorage), logged in."""
    context = browser.new_context(viewport={"width": 1000, "height": 760})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(servers.url + "/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#app")).to_have_attribute("data-socket", "open")
    return page


def test_a_paid_call_between_two_browsers(servers: Servers, tmp_path: Path) -> None:
    caller = UserFactory.create(email="carl@example.com", name="Carl")
    host = HostFactory.create(email="hana@example.com", name="Hana", rate_per_minute=RATE)
    wallet_adjust(user_id=caller.pk, amount=START, idempotency_key="browser", reason="test")
    caller_token = access_token_for(caller)
    # No ORM below until the browser is closed: Playwright's loop runs in this thread.

    with chromium(MEDIA_ARGS) as browser:
        host_page = open_client(browser, servers, host.email)
        caller_page = open_client(browser, servers, caller.email)
        expect(caller_page.locator("#balance")).to_have_attribute("data-balance", str(START))
        expect(host_page.locator("#balance")).to_have_attribute("data-balance", "0")

        caller_page.get_by_label("Call a host by id").fill(str(host.pk))
        caller_page.get_by_role("button", name="Call", exact=True).click()
        expect(caller_page.locator("#app")).to_have_attribute("data-call", "calling")
        ringing = host_page.get_by_role("alertdialog", name="Incoming call")
        expect(ringing).to_contain_text("Carl is calling (10 coins per minute)")
        host_page.screenshot(path=tmp_path / "1-host-ringing.png")
        caller_page.evaluate(RECORD_BALANCES)
        host_page.get_by_role("button", name="Accept").click()

        # Media flows: both peer connections connected, signaled over /ws/ only.
        for page in (caller_page, host_page):
            expect(page.locator("#app")).to_have_attribute("data-pc", "connected")
            expect(page.locator("#app")).to_have_attribute("data-call", "active")
        connected_at = time.monotonic()
        call_id = int(caller_page.locator("#app").get_attribute("data-call-id") or "0")

        # The caller's balance as shown: the rate at accept, then the rate every period.
        last = START - (1 + EXTRA_PERIODS) * RATE
        wait_ms = ((EXTRA_PERIODS + 1) * PERIOD + 5) * 1000
        caller_page.wait_for_function(
            f"() => window.balances.at(-1)?.[0] <= {last}", timeout=wait_ms
        )
        seen = caller_page.evaluate("window.balances")
        assert [coins for coins, _ in seen] == [
            START - n * RATE for n in range(1, 2 + EXTRA_PERIODS)
        ]
        # A period apart, give or take the 1-second tick.
        gaps = [(b[1] - a[1]) / 1000 for a, b in itertools.pairwise(seen)]
        assert all(PERIOD - 1.5 < gap < PERIOD + 3 for gap in gaps), gaps
        # Still connected after the periods: the remote video plays.
        for page in (caller_page, host_page):
            expect(page.locator("#app")).to_have_attribute("data-pc", "connected")
            assert page.locator("#remote-video").evaluate("video => video.videoWidth") > 0
        # To look at when something goes wrong (pytest's tmp_path, not kept in the repo).
        caller_page.screenshot(path=tmp_path / "2-caller-in-call.png")
        host_page.screenshot(path=tmp_path / "2-host-in-call.png")

        caller_page.get_by_role("button", name="Hang up").click()
        for page, who in ((caller_page, "you"), (host_page, "Carl")):
            expect(page.locator("#app")).to_have_attribute("data-call", "ended")
            expect(page.locator("#app")).to_have_attribute("data-end-reason", "hangup")
            expect(page.locator("#call-status")).to_contain_text(f"Call ended: {who} hung up")
        talked = time.monotonic() - connected_at
        caller_page.screenshot(path=tmp_path / "3-caller-ended.png")

        # The call log as the client sees it.
        status, logged = servers.request("GET", f"/api/v1/calls/{call_id}", token=caller_token)
        assert status == 200, logged
        periods = logged["periods_charged"]
        assert (logged["status"], logged["end_reason"]) == ("ended", "hangup")
        assert periods >= 1 + EXTRA_PERIODS
        assert periods <= 2 + talked // PERIOD, (periods, talked)
        assert logged["total_coins"] == periods * RATE
        # Each page ends up showing the wallet's balance (any last charge pushed too).
        status, wallet = servers.request("GET", "/api/v1/wallet", token=caller_token)
        assert wallet["balance"] == START - periods * RATE
        expect(caller_page.locator("#balance")).to_have_attribute(
            "data-balance", str(wallet["balance"])
        )
        host_earned = periods * (RATE * settings.HOST_SHARE_PERCENT // 100)
        expect(host_page.locator("#balance")).to_have_attribute("data-balance", str(host_earned))

        # Once more, and the host declines: nothing is charged.
        caller_page.get_by_role("button", name="Back").click()
        caller_page.get_by_label("Call a host by id").fill(str(host.pk))
        caller_page.get_by_role("button", name="Call", exact=True).click()
        host_page.get_by_role("button", name="Decline").click()
        expect(caller_page.locator("#call-status")).to_have_text("Call ended: declined.")
        expect(host_page.get_by_role("alertdialog")).to_be_hidden()
        expect(caller_page.locator("#balance")).to_have_attribute(
            "data-balance", str(wallet["balance"])
        )

    # The ledger agrees with the call log, to the coin.
    call = Call.objects.get(pk=call_id)
    assert (call.caller_id, call.callee_id) == (caller.pk, host.pk)
    assert (call.status, call.periods_charged, call.total_coins) == (
        "ended",
        periods,
        periods * RATE,
    )
    assert call.host_share_percent == settings.HOST_SHARE_PERCENT
    assert wallet_of_user(user_id=caller.pk).balance == START - periods * RATE
    assert wallet_of_user(user_id=host.pk).balance == host_earned
    entries = Entry.objects.filter(transaction__reference=f"call:{call_id}")
    assert entries.aggregate(total=Sum("amount"))["total"] == 0
    assert entries.filter(wallet__owner_id=caller.pk).aggregate(s=Sum("amount"))["s"] == -(
        periods * RATE
    )
    call_command("reconcile_ledger")
