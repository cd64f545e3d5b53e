"""A support staff member in a real browser bans a user from the admin's users list: the
user's open socket on the same real server closes at once with 4401 (issue 12, item 6)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from adminpanel.models import AuditEntry
from adminpanel.roles import SUPPORT
from tests.browser import chromium
from tests.factories import PASSWORD, StaffFactory, UserFactory
from tests.servers import Servers, running_servers, socket_url

pytestmark = [
    pytest.mark.servers,
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

WAIT_MS = 10_000


@pytest.fixture
def servers(transactional_db: None, tmp_path: Path) -> Iterator[Servers]:
    with running_servers(tmp_path) as started:
        yield started


def test_support_bans_a_user_whose_socket_closes(servers: Servers) -> None:
    support = StaffFactory.create(email="sam@example.com", roles=[SUPPORT])
    user = UserFactory.create(email="troll@example.com", name="Troll")
    assert servers.port is not None

    with connect(socket_url(servers.port, user), open_timeout=5) as socket, chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(f"{servers.url}/admin/")
        page.fill("#id_username", support.email)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")

        page.goto(f"{servers.url}/admin/accounts/user/?q=troll")
        page.check(f"input[name=_selected_action][value='{user.pk}']")
        page.select_option("select[name=action]", "deactivate")
        page.click("button[name=index]")
        page.wait_for_selector("text=1 user(s) deactivated.")

        try:
            while True:
                socket.recv(timeout=5)  # pushes before the close are passed over
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame from the server"
            code = closed.rcvd.code

    assert code == 4401
    user.refresh_from_db()
    assert not user.is_active
    entry = AuditEntry.objects.get(action="user.deactivate")
    assert entry.actor == support
