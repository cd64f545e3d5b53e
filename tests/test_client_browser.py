"""The web client at `/` (docs/web-client.md) in a real browser against a real uvicorn: a bad
password shows the server's error, logging in shows the balance and opens the socket, the
socket comes back after a server restart, a reload keeps the login (refreshing a refused
access token), logging out ends it. Also: the page is served with its policy
headers and leaves the other routes alone."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from tests.browser import chromium
from tests.factories import PASSWORD, UserFactory
from tests.servers import Servers, running_servers
from wallet.ledger.services import wallet_adjust

# A real browser against real server processes.
pytestmark = [pytest.mark.servers, pytest.mark.browser]

WAIT_MS = 10_000
# Test instrumentation: records every change of #app's data-socket.
RECORD_SOCKET_STATES = """() => {
  const app = document.getElementById("app");
  window.socketStates = [];
  new MutationObserver(() => window.socketStates.push(app.dataset.socket)).observe(
    app, { attributes: true, attributeFilter: ["data-socket"] });
}"""


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    with running_servers(tmp_path) as started:
        yield started


def log_in(page: Page, email: str, password: str) -> None:
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_log_in_see_the_balance_and_connect(servers: Servers) -> None:
    user = UserFactory.create(email="walt@example.com", name="Walt")
    wallet_adjust(user_id=user.pk, amount=1234, idempotency_key="client-fund", reason="test")
    problems: list[str] = []

    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        # A request still in flight when the test reloads the page is aborted, not failed.
        page.on(
            "requestfailed",
            lambda request: (
                problems.append(f"failed: {request.url} {request.failure}")
                if request.failure != "net::ERR_ABORTED"
                else None
            ),
        )
        page.on(
            "console",
            lambda message: (
                problems.append(message.text)
                if "Content Security Policy" in message.text or message.type == "warning"
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.goto(servers.url + "/")
        app = page.locator("#app")
        expect(page).to_have_title("Videochat")

        log_in(page, user.email, "not-the-password")
        expect(page.get_by_role("alert")).to_contain_text("No active account")
        expect(app).to_have_attribute("data-view", "login")

        log_in(page, user.email, PASSWORD)
        expect(app).to_have_attribute("data-view", "home")
        expect(page.locator("#balance")).to_have_attribute("data-balance", "1234")
        expect(page.locator("#me-name")).to_have_text("Walt")
        expect(app).to_have_attribute("data-socket", "open")
        expect(page.locator("#socket-status")).to_have_text("online")
        # No online list on this server yet: the page says so and offers the id field.
        expect(page.locator("#hosts-note")).not_to_be_empty()
        expect(page.get_by_label("Call a host by id")).to_be_visible()

        # The server goes away and comes back: the socket reconnects by itself.
        page.evaluate(RECORD_SOCKET_STATES)
        servers.restart_web()
        # A slow restart (a loaded machine) lets the client's backoff grow to 8-16 s.
        expect(app).to_have_attribute("data-socket", "open", timeout=3 * WAIT_MS)
        states = page.evaluate("window.socketStates")
        assert states[0] == "closed" and states[-1] == "open", states

        # A reload keeps the login; an access token the server refuses is refreshed (a 401
        # on GET /me), and the socket connects with the new one.
        page.evaluate("sessionStorage.setItem('access', 'refused.by.server')")
        page.reload()
        expect(app).to_have_attribute("data-view", "home")
        expect(app).to_have_attribute("data-socket", "open")
        expect(page.locator("#balance")).to_have_attribute("data-balance", "1234")
        assert page.evaluate("sessionStorage.getItem('access')") != "refused.by.server"

        page.get_by_role("button", name="Log out").click()
        expect(app).to_have_attribute("data-view", "login")
        expect(app).to_have_attribute("data-socket", "closed")
        page.reload()
        expect(app).to_have_attribute("data-view", "login")

    assert problems == [], servers.logs()


@pytest.mark.django_db
def test_the_page_is_served_at_the_root_with_its_policy() -> None:
    client = Client()
    page = client.get("/")
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "no-cache" in page["Cache-Control"]
    html = page.content.decode()
    assert '<script type="module" src="/static/client/client.js?v=' in html
    assert 'href="/static/client/client.css?v=' in html
    assert client.post("/").status_code == 405
    # The other doors are untouched.
    assert client.get("/api/v1/nope").json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/admin/").status_code == 302
