import pytest
from django.test import Client

from accounts.models import User


@pytest.fixture
def superuser_client(db: None) -> Client:
    """A Django admin session of a superuser."""
    client = Client()
    client.force_login(User.objects.create_superuser("root@example.com", "x", name="Root"))
    return client
