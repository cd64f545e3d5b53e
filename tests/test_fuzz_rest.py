"""schemathesis over /api/schema/ against a real uvicorn (issue 10, "systematic proof").

Every operation gets schemathesis' coverage cases (deterministic: each boundary, each missing
field, each wrong type, unexpected methods), then EXAMPLES generated requests that fit the
schema and EXAMPLES that break it, from a fixed seed. Requests are logged in (as a host where
the operation is for hosts); schemathesis also sends broken and missing tokens. Every answer
must be no 5xx, a documented status with a documented content type, headers and body, and
every error in the contract's one shape. All operations run, then every failure is reported
at once with a curl command that reproduces it. Nothing is excluded."""

import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import User
from tests.factories import UserFactory
from tests.fixtures import access_token_for
from tests.fuzzing import World, build_world, error_shape_problems, rate_limited_problems, state
from tests.servers import Servers, running_servers
from videochat.pagination import cursor_encode

pytestmark = [
    pytest.mark.servers,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("mongo_db"),
    pytest.mark.timeout(600),
]

SEED = 1007
EXAMPLES = 25  # per operation and generation mode (positive, negative)

# Operations only a host can use for real; everything else runs as the paying user alice.
AS_HOST = {"POST /api/v1/withdrawals", "GET /api/v1/withdrawals", "PATCH /api/v1/me"}
# Reports are limited to 20 an hour per reporter (documented 429): the requests take turns
# among this many users so that most of them reach the view.
REPORTERS = 6

# The limits per address (register, login, refused webhooks) and per user (match, call
# invites) would answer most requests 429 and hide what lies behind them; they have tests of
# their own.
SERVER_ENV = {
    "THROTTLE_REGISTER": "100000/min",
    "THROTTLE_LOGIN": "100000/min",
    "THROTTLE_PAYMENT_WEBHOOK_REFUSED": "100000/min",
    "MATCH_RATE": "100000/min",
    "CALL_INVITE_RATE": "100000/min",
    "PAYMENTS_SANDBOX_SECRET": "fuzz-sandbox-secret",
}


def error_shape(ctx: Any, response: Any, case: Any) -> None:
    """API.md, Conventions: every error in one shape; `rate_limited` says how long to wait."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{response.status_code} with a body that is not JSON: {response.content[:300]!r}"
        ) from None
    problems = error_shape_problems(body)
    if not problems and body["error"]["code"] == "rate_limited":
        # schemathesis' headers: lowercase names, lists of values.
        problems = rate_limited_problems(body, response.headers.get("retry-after", [None])[0])
    if problems:
        raise AssertionError(f"{response.status_code} error body: " + "; ".join(problems))


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    error_shape,
]


def known_values(world: World) -> dict[str, list[Any]]:
    """Real ids (and a withdrawable amount) by parameter name, so that generated requests
    also reach existing objects instead of stopping at 404 or 400."""
    return {
        "user_id": world.user_ids,
        "to": world.user_ids,
        "callee_id": world.user_ids,
        "call_id": world.call_ids,
        "conversation_id": world.conversation_ids,
        "before": world.message_ids,
        "gift_id": world.gift_ids,
        "package_id": world.package_ids,
        # Within WITHDRAWAL_MIN_COINS..MAX_COINS, which the schema can't state (settings).
        "coins": [1000, 2500, 7000],
        # Cursors are opaque: well-formed ones (keyset ids and offsets at the edges, chat's
        # message ids) reach what lies behind the cursor check.
        "cursor": [
            *(cursor_encode(n) for n in (1, 2, 10**6, 2**31, 2**63 - 1, 10**19 - 1)),
            *world.message_ids,
            *world.conversation_ids,
        ],
    }


class Fuzzer:
    """Sends schemathesis cases to the server as the right user and checks each answer."""

    def __init__(self, servers: Servers, world: World) -> None:
        self.base_url = servers.url
        self.session = requests.Session()
        self.known = known_values(world)
        self.user = access_token_for(world.alice)
        self.host = access_token_for(world.hana)
        reporters = [UserFactory.create() for _ in range(REPORTERS)]
        self.reporters = cycle([access_token_for(user) for user in reporters])
        self.statuses: dict[str, Counter[int]] = {}

    def token(self, label: str) -> str:
        if label == "POST /api/v1/reports":
            return next(self.reporters)
        return self.host if label in AS_HOST else self.user

    def send(self, case: Any) -> None:
        label = case.operation.label
        headers = {"Authorization": f"Bearer {self.token(label)}"}
        response = case.call(
            base_url=self.base_url, session=self.session, headers=headers, timeout=30
        )
        self.statuses.setdefault(label, Counter())[response.status_code] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    def with_known_values(self, case: Any, rng: random.Random) -> None:
        """Swap values the case carries for real ones, half of the time (positive cases
        only: a real value of the right type keeps the case valid)."""
        if "provider" in (case.path_parameters or {}):
            # Every other name is a 404 (the coverage and negative cases send those): the
            # webhook's checks lie behind the configured provider.
            case.path_parameters["provider"] = "sandbox"
        for container in (case.path_parameters, case.query, case.body):
            if not isinstance(container, dict):
                continue
            for name in list(container):
                if name in self.known and rng.random() < 0.5:
                    container[name] = rng.choice(self.known[name])

    def cover(self, operation: Any) -> str | None:
        """schemathesis' coverage cases; the first failure as text, else None."""
        schema = operation.schema
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=operation),
        )
        try:
            for case in cases:
                self.send(case)
        # schemathesis' FailureGroup is a BaseExceptionGroup.
        except (Exception, BaseExceptionGroup) as exc:
            return f"{operation.label} [coverage]: {type(exc).__name__}: {exc}"
        return None

    def fuzz(self, operation: Any, mode: GenerationMode) -> str | None:
        """EXAMPLES generated cases; the first failure as text (hypothesis stops there)."""

        @seed(SEED)
        @settings(
            max_examples=EXAMPLES,
            database=None,
            deadline=None,
            phases=[Phase.generate],  # no shrinking: the first failure is reported as found
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )
        @given(case=operation.as_strategy(generation_mode=mode), salt=st.integers(0, 2**32))
        def run(case: Any, salt: int) -> None:
            if mode is GenerationMode.POSITIVE:
                self.with_known_values(case, random.Random(salt))
            self.send(case)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:
            return f"{operation.label} [{mode.value}]: {type(exc).__name__}: {exc}"
        return None


@pytest.fixture
def world(transactional_db: None, mongo_db: Any) -> World:
    return build_world()


@pytest.fixture
def servers(world: World, tmp_path: Path) -> Iterator[Servers]:
    with running_servers(tmp_path, static=False, env=SERVER_ENV) as started:
        yield started


def test_every_operation_answers_as_its_schema_says(servers: Servers, world: World) -> None:
    schema = schemathesis.openapi.from_url(f"{servers.url}/api/schema/")
    results = list(schema.get_all_operations())
    assert not [result.err() for result in results if isinstance(result, Err)]
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 33, [operation.label for operation in operations]
    fuzzer = Fuzzer(servers, world)
    failures = []
    for operation in operations:
        failures.append(fuzzer.cover(operation))
        failures.append(fuzzer.fuzz(operation, GenerationMode.POSITIVE))
        failures.append(fuzzer.fuzz(operation, GenerationMode.NEGATIVE))
    fuzzer.session.close()
    # Figures for the curious (pytest -s): answers by status per operation.
    for label, statuses in fuzzer.statuses.items():
        print(f"{label}: {dict(sorted(statuses.items()))}")
    # The server's log without the warnings that 4xx answers and refused webhooks write.
    log = [
        line for line in servers.processes["web"].output().splitlines() if " WARNING " not in line
    ]
    found = [failure for failure in failures if failure]
    assert not found, "\n\n".join(found) + "\n\nweb log:\n" + "\n".join(log[-200:])


# --- Bad input of every kind, on every operation -------------------------------------------

# Bodies no operation takes, and the error each must get (docs/api-conventions.md, Errors).
BAD_BODIES: list[tuple[str, bytes, str, str]] = [
    ("malformed", b'{"a": ', "application/json", "validation_error"),
    ("NaN", b'{"a": NaN}', "application/json", "validation_error"),
    ("deep", b"[" * 5000 + b"]" * 5000, "application/json", "validation_error"),
    ("lone surrogate", b'{"a": "\\ud800"}', "application/json", "validation_error"),
    ("array", b"[]", "application/json", "validation_error"),
    ("string", b'"text"', "application/json", "validation_error"),
    ("number", b"1", "application/json", "validation_error"),
    ("null", b"null", "application/json", "validation_error"),
    ("not UTF-8", b'{"a": "\xff"}', "application/json", "validation_error"),
    ("huge", b'{"a": "' + b"x" * 70_000 + b'"}', "application/json", "payload_too_large"),
    ("form", b"a=1", "application/x-www-form-urlencoded", "unsupported_media_type"),
    ("text", b"{}", "text/plain", "unsupported_media_type"),
]


# The webhook reads the raw body whatever its type (the provider's signature covers the
# bytes): a body of another type is a bad signature like any other.
RAW_BODY_CODES = {
    "POST /api/v1/payments/webhook/{provider}": {"unsupported_media_type": "validation_error"},
    "POST /api/v1/payouts/webhook/stripe": {"unsupported_media_type": "validation_error"},
}


def bad_tokens(world: World) -> dict[str, str | None]:
    """Authorization headers that must all be `not_authenticated`."""
    expired = AccessToken.for_user(world.alice)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    gone = UserFactory.create()
    gone_token = access_token_for(gone)
    User.objects.filter(pk=gone.pk).update(is_active=False)
    return {
        "missing": None,
        "garbage": "Bearer not-a-jwt",
        "expired": f"Bearer {expired}",
        "refresh token": f"Bearer {RefreshToken.for_user(world.alice)}",
        "other scheme": f"Basic {access_token_for(world.alice)}",
        "deactivated user": f"Bearer {gone_token}",
    }


def test_bad_input_of_every_kind_gets_the_error_shape_and_changes_nothing(
    servers: Servers, world: World
) -> None:
    """Every operation with a body gets each of BAD_BODIES; every operation behind a token
    gets each bad token. Each answer is its error in the one shape; the stores are the same
    afterwards."""
    schema = schemathesis.openapi.from_url(f"{servers.url}/api/schema/")
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    fuzzer = Fuzzer(servers, world)
    tokens = bad_tokens(world)
    paths = {
        "call_id": world.call_ids[0],
        "conversation_id": world.conversation_ids[0],
        "user_id": world.bob.pk,
        "provider": "sandbox",
    }
    before = state()
    problems = []
    session = requests.Session()
    for operation in operations:
        raw = operation.definition.raw
        url = servers.url + re.sub(r"\{(\w+)\}", lambda m: str(paths[m.group(1)]), operation.path)
        token = f"Bearer {fuzzer.token(operation.label)}"
        tries: list[tuple[str, bytes | None, str, str | None, str]] = []
        if "requestBody" in raw:
            tries += [
                (name, body, kind, token, RAW_BODY_CODES.get(operation.label, {}).get(code, code))
                for name, body, kind, code in BAD_BODIES
            ]
        if raw.get("security") == [{"jwtAuth": []}]:
            tries += [
                (name, None, "application/json", header, "not_authenticated")
                for name, header in tokens.items()
            ]
        for name, body, content_type, authorization, code in tries:
            headers = {"Content-Type": content_type}
            if authorization:
                headers["Authorization"] = authorization
            response = session.request(
                operation.method.upper(), url, data=body, headers=headers, timeout=30
            )
            try:
                answer = response.json()
            except ValueError:
                answer = response.text[:200]
            shape = error_shape_problems(answer)
            if shape or answer["error"]["code"] != code:
                problems.append(f"{operation.label} {name}: {response.status_code} {answer}")
    session.close()
    assert not problems, "\n".join(problems)
    assert state() == before
