"""Fixtures shared by every test (registered by the root conftest.py): clean real stores
per test and the persona users."""

from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.core.management.commands import flush
from django_redis import get_redis_connection
from mongoengine.connection import get_db
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from tests.factories import HostFactory, UserFactory
from wallet.ledger.services import wallet_system_ensure


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> Iterator[None]:
    """pytest-django's test databases, migrated; then the flush after a transactional test no
    longer sends post_migrate. The flush keeps what post_migrate would re-create (content
    types, permissions, the roles' groups: tests/postgresql/base.py), and re-checking it all
    cost 140 ms a test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flush, "emit_post_migrate_signal", lambda *args, **kwargs: None)
        yield


@pytest.fixture(autouse=True)
def clean_redis() -> Iterator[None]:
    """Every test starts with none of this run's Redis keys (cache, throttles, presence)."""
    redis = get_redis_connection("default")

    def clean() -> None:
        keys = list(redis.scan_iter(match=f"{settings.REDIS_PREFIX}:*", count=1000))
        if keys:
            redis.delete(*keys)

    clean()
    yield
    clean()


@pytest.fixture(autouse=True)
def system_wallets(request: pytest.FixtureRequest) -> None:
    """Tests with database access find the system wallets the migration made, also after a
    transactional test emptied every table."""
    uses_db = request.node.get_closest_marker("django_db") is not None or {
        "db",
        "transactional_db",
    } & set(request.fixturenames)
    if uses_db:
        request.getfixturevalue("_django_db_helper")
        wallet_system_ensure()


@pytest.fixture(scope="session")
def mongo_indexes() -> None:
    """The chat indexes, created once per run as `make migrate` does (emptying the
    collections keeps them)."""
    from chat.documents import chat_indexes_ensure

    chat_indexes_ensure()


@pytest.fixture
def mongo_db(mongo_indexes: None):  # type: ignore[no-untyped-def]
    """The test MongoDB database (indexes ensured), emptied before and after the test."""
    db = get_db()
    assert db.name.endswith("_test"), "refusing to clean a non-test MongoDB database"
    for name in db.list_collection_names():
        db[name].delete_many({})
    yield db
    for name in db.list_collection_names():
        db[name].delete_many({})


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(email="alice@example.com", name="Alice")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory.create(email="bob@example.com", name="Bob")


@pytest.fixture
def hana(db: None) -> User:
    return HostFactory.create(email="hana@example.com", name="Hana")


def access_token_for(user: User) -> str:
    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture
def api() -> APIClient:
    """An anonymous client."""
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """client_for(alice) -> an APIClient sending alice's access token."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
        return client

    return make


def pytest_configure() -> None:
    assert settings.REDIS_PREFIX.startswith("videochat-test")
