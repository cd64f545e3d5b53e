from typing import Any

import pytest

from gifts.models import Gift
from gifts.tests.helpers import make_gift


@pytest.fixture(autouse=True)
def host_share(settings: Any) -> None:
    """Pinned, so a developer's .env never changes what the figures below mean."""
    settings.HOST_SHARE_PERCENT = 50


@pytest.fixture
def rose(db: None) -> Gift:
    return make_gift("Rose", 10, position=0)
