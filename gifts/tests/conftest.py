from typing import Any

import pytest

from gifts.models import Gift
from tests.factories import GiftFactory


@pytest.fixture(autouse=True)
def host_share(settings: Any) -> None:
    """Pinned, so a developer's .env never changes what the figures below mean."""
    settings.HOST_SHARE_PERCENT = 50


@pytest.fixture
def rose(db: None) -> Gift:
    return GiftFactory.create(name="Rose", cost_coins=10, position=0)
