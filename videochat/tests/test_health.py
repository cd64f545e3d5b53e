import pytest
from django.test import override_settings

from videochat import health


@pytest.mark.django_db
def test_healthz_checks_all_three_stores(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok", "mongo": "ok"},
    }


@pytest.mark.slow
@pytest.mark.django_db
def test_healthz_names_the_store_that_is_down(api, monkeypatch):
    import redis

    # A Redis client pointed at a port where nothing listens: a real failed connection.
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    monkeypatch.setitem(health.CHECKS, "redis", dead.ping)
    response = api.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"].startswith("unavailable")
    assert body["checks"]["postgres"] == "ok"
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["details"] == {"failed": ["redis"]}


@override_settings(DEBUG=True)
def test_unknown_api_path_is_json_404_even_in_debug(api):
    response = api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
