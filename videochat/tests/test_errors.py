"""Every way an API request can fail leaves in the one error shape (API.md, Conventions)."""

import pytest
from rest_framework.test import APIClient

from tests.helpers import assert_error

pytestmark = pytest.mark.urls("videochat.tests.urls_errors")


def test_malformed_json_is_a_validation_error(api):
    response = api.post("/api/test/echo", "{not json", content_type="application/json")
    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        # Deeper than Python's recursion limit: the parser raised RecursionError (a 500).
        "[" * 5000 + "]" * 5000,
        # Deeper than the API takes (64 levels).
        '{"text": ' + "[" * 64 + "]" * 64 + "}",
        # Lone surrogates: valid JSON escapes but no characters; a field error echoing one
        # could not be encoded (a 500).
        '{"text": "\\ud800"}',
        '{"\\udfff": 1}',
    ],
)
def test_json_outside_i_json_is_a_validation_error(api, body):
    response = api.post("/api/test/echo", body, content_type="application/json")
    assert_error(response, 400, "validation_error")


def test_a_charset_that_decodes_to_a_lone_surrogate_is_a_validation_error(api):
    body = b'{"text": "+2AA-"}'  # UTF-7 for U+D800
    response = api.post("/api/test/echo", body, content_type="application/json; charset=utf-7")
    assert_error(response, 400, "validation_error")


def test_escaped_surrogate_pairs_and_nesting_up_to_the_limit_are_read(api):
    response = api.post(
        "/api/test/echo", '{"text": "\\ud83d\\ude00"}', content_type="application/json"
    )
    assert response.json() == {"got": {"text": "😀"}}
    deep = "[" * 63 + "]" * 63
    response = api.post("/api/test/echo", '{"a": ' + deep + "}", content_type="application/json")
    assert response.status_code == 200, response.content


def test_a_huge_body_is_refused_before_parsing(api, settings):
    settings.API_MAX_BODY_BYTES = 1024
    response = api.post("/api/test/echo", {"text": "x" * 2000}, format="json")
    assert_error(response, 413, "payload_too_large")


def test_a_body_under_the_limit_is_read(api):
    response = api.post("/api/test/echo", {"text": "hello"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"got": {"text": "hello"}}


def test_form_bodies_are_not_accepted(api):
    response = api.post("/api/test/echo", "a=1", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_domain_errors_keep_their_code_and_details(api):
    error = assert_error(api.get("/api/test/domain"), 402, "insufficient_funds")
    assert error["details"] == {"needed": 60}
    assert error["message"] == "You need 60 coins."


def test_a_crash_is_a_json_500_without_internals(api):
    api.raise_request_exception = False
    error = assert_error(api.get("/api/test/crash"), 500, "server_error")
    assert "boom" not in error["message"]


def test_missing_and_bad_tokens_are_not_authenticated(api):
    assert_error(api.get("/api/test/private"), 401, "not_authenticated")
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert_error(api.get("/api/test/private"), 401, "not_authenticated")


def test_throttling_is_rate_limited_with_retry_after(api):
    assert api.get("/api/test/throttled").status_code == 200
    response = api.get("/api/test/throttled")
    error = assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1
    assert error["details"]["retry_after"] == int(response["Retry-After"])


@pytest.mark.parametrize(
    ("wait", "seconds"), [("2", 2), ("2.1", 3), ("0.01", 1), ("0", 1), ("none", 1)]
)
def test_every_throttle_answer_says_whole_seconds_rounded_up(api, wait, seconds):
    response = api.get("/api/test/refused", {"wait": wait})
    error = assert_error(response, 429, "rate_limited")
    assert response["Retry-After"] == str(seconds)
    assert error["details"]["retry_after"] == seconds
    assert type(error["details"]["retry_after"]) is int


@pytest.mark.parametrize(("wait", "seconds"), [("1.2", 2), ("0.001", 1), ("30", 30)])
def test_a_service_rate_limit_answers_like_a_throttle(api, wait, seconds):
    response = api.get("/api/test/service-limited", {"wait": wait})
    error = assert_error(response, 429, "rate_limited")
    assert error["message"] == "Too many things."
    assert response["Retry-After"] == str(seconds)
    assert error["details"] == {"retry_after": seconds}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("store", ["redis", "mongo", "postgres-refused", "postgres-terminated"])
def test_a_store_outage_is_503_service_unavailable_with_retry_after(api, store, caplog):
    response = api.get(f"/api/test/store/{store}")
    error = assert_error(response, 503, "service_unavailable")
    assert int(response["Retry-After"]) >= 1
    assert error["details"] == {"retry_after": int(response["Retry-After"])}
    assert "Traceback" not in caplog.text  # an outage is logged in one line, not as a bug


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_statement_is_not_an_outage(api):
    api.raise_request_exception = False
    assert_error(api.get("/api/test/store/postgres-statement-cancelled"), 500, "server_error")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_path_is_a_json_404_for_writes_too(method):
    # Real clients send no CSRF token (the test client skips the check unless asked).
    client = APIClient(enforce_csrf_checks=True)
    response = getattr(client, method)("/api/v1/calls/-1/accept", {}, format="json")
    assert_error(response, 404, "not_found")
