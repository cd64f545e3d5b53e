"""GET /calls/ice-servers (API.md, Calls): STUN, plus TURN with coturn `use-auth-secret`
credentials (HMAC-SHA1 over `<expiry>:<user id>`)."""

import time

import pytest

from calls.ice import ice_servers_for

pytestmark = pytest.mark.django_db

ICE = "/api/v1/calls/ice-servers"


@pytest.fixture
def turn(settings):
    settings.STUN_URLS = ["stun:stun.example.com:3478"]
    settings.TURN_URLS = ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"]
    settings.TURN_SECRET = "north"
    settings.TURN_TTL_SECONDS = 3600


def test_turn_credentials_match_an_independently_computed_vector(turn):
    # echo -n "1700003600:42" | openssl dgst -sha1 -hmac north -binary | base64
    answer = ice_servers_for(user_id=42, now=1_700_000_000.7)

    assert answer == {
        "ice_servers": [
            {"urls": ["stun:stun.example.com:3478"]},
            {
                "urls": [
                    "turn:turn.example.com:3478?transport=udp",
                    "turns:turn.example.com:5349",
                ],
                "username": "1700003600:42",
                "credential": "WO3ZFttCQxBYtA2Ohz7jjGcQStA=",
            },
        ],
        "ttl": 3600,
    }


def test_endpoint_gives_the_caller_fresh_credentials(client_for, alice, turn):
    before = int(time.time())
    response = client_for(alice).get(ICE)
    after = int(time.time())

    assert response.status_code == 200
    body = response.json()
    assert body["ttl"] == 3600
    stun, turn_server = body["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.com:3478"]}
    expiry, user_id = turn_server["username"].split(":")
    assert user_id == str(alice.pk)
    assert before + 3600 <= int(expiry) <= after + 3600
    same_moment = ice_servers_for(user_id=alice.pk, now=int(expiry) - 3600)
    assert turn_server == same_moment["ice_servers"][1]


@pytest.mark.parametrize(("urls", "secret"), [([], "north"), (["turn:t.example.com"], "")])
def test_stun_only_when_turn_is_not_configured(client_for, alice, turn, settings, urls, secret):
    settings.TURN_URLS = urls
    settings.TURN_SECRET = secret

    body = client_for(alice).get(ICE).json()

    assert body == {"ice_servers": [{"urls": ["stun:stun.example.com:3478"]}], "ttl": 3600}
