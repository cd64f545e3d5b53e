"""/api/docs/ renders in a real browser from assets we ship (no CDN on this network)."""

import pytest

from tests.browser import chromium

# A real browser against Django's live server (a thread of this process).
pytestmark = pytest.mark.browser


@pytest.mark.django_db
def test_api_docs_render_the_endpoints(live_server):
    failed: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        text = page.inner_text(".swagger-ui")
        page.close()
    assert "Videochat API" in text
    assert "/api/v1/auth/register" in text
    assert "/api/v1/me" in text
    assert failed == []
