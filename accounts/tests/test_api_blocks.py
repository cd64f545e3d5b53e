import pytest

from accounts.models import Block
from accounts.selectors import is_blocked_between
from tests.factories import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db


def block_url(user_id: int) -> str:
    return f"/api/v1/users/{user_id}/block"


def test_block_then_unblock(client_for, alice, bob):
    client = client_for(alice)

    response = client.post(block_url(bob.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert list(Block.objects.values_list("blocker_id", "blocked_id")) == [(alice.pk, bob.pk)]
    assert is_blocked_between(alice.pk, bob.pk)

    response = client.delete(block_url(bob.pk))

    assert response.status_code == 204
    assert not Block.objects.exists()
    assert not is_blocked_between(alice.pk, bob.pk)


def test_block_and_unblock_are_idempotent(client_for, alice, bob):
    client = client_for(alice)

    assert [client.post(block_url(bob.pk)).status_code for _ in range(2)] == [204, 204]
    assert Block.objects.count() == 1
    assert [client.delete(block_url(bob.pk)).status_code for _ in range(2)] == [204, 204]
    assert Block.objects.count() == 0


def test_unblock_lifts_only_the_callers_own_block(client_for, alice, bob):
    Block.objects.create(blocker=bob, blocked=alice)

    assert client_for(alice).delete(block_url(bob.pk)).status_code == 204

    assert Block.objects.filter(blocker=bob, blocked=alice).exists()
    assert is_blocked_between(alice.pk, bob.pk)


def test_a_blocked_user_may_block_back(client_for, alice, bob):
    Block.objects.create(blocker=bob, blocked=alice)

    assert client_for(alice).post(block_url(bob.pk)).status_code == 204

    assert Block.objects.count() == 2


@pytest.mark.parametrize("method", ["post", "delete"])
def test_blocking_yourself_is_refused(client_for, alice, method):
    response = getattr(client_for(alice), method)(block_url(alice.pk))

    assert_error(response, 400, "validation_error")
    assert not Block.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_unknown_or_deactivated_users_are_404(client_for, alice, method):
    gone = UserFactory.create(is_active=False)

    for user_id in (gone.pk, 987654321, 2**63):
        response = getattr(client_for(alice), method)(block_url(user_id))
        assert_error(response, 404, "not_found")
    assert not Block.objects.exists()


@pytest.mark.parametrize("method", ["post", "delete"])
def test_blocking_needs_a_token(api, bob, method):
    assert_error(getattr(api, method)(block_url(bob.pk)), 401, "not_authenticated")


@pytest.mark.parametrize("method", ["get", "put", "patch"])
def test_block_answers_405_in_the_error_shape(client_for, alice, bob, method):
    assert_error(getattr(client_for(alice), method)(block_url(bob.pk)), 405, "method_not_allowed")


def test_is_blocked_between_looks_both_ways_and_nowhere_else(alice, bob, hana):
    Block.objects.create(blocker=alice, blocked=bob)

    assert is_blocked_between(alice.pk, bob.pk)
    assert is_blocked_between(bob.pk, alice.pk)
    assert not is_blocked_between(alice.pk, hana.pk)
    assert not is_blocked_between(hana.pk, bob.pk)
