"""A local stand-in for Google (pytest-httpserver) for the Google Play tests: the OAuth token
endpoint the service account signs in at, the Play Developer API's purchases.products (get,
consume), and the certificates of the keys that sign Pub/Sub's OIDC tokens. It checks each
request the way Google does (the JWT-bearer assertion's signature against the service
account's public key, the access token it issued, the path, the package) and answers Google's
error bodies. The `googleplay` fixture (import `googleplay_fixture`) points the settings at
it; `googleplay_void_delivery` builds a signed Pub/Sub push of a voided purchase."""

import base64
import datetime
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from wallet.purchases.googleplay import SCOPE, oidc_certs

PACKAGE = "com.example.videochat"
SERVICE_ACCOUNT = "play-billing@videochat-test.iam.gserviceaccount.com"
SERVICE_ACCOUNT_KEY_ID = "sa-key-1"
PUBSUB_AUDIENCE = "https://api.videochat.example/api/v1/payments/webhook/googleplay"
PUBSUB_ACCOUNT = "rtdn-push@videochat-test.iam.gserviceaccount.com"
OIDC_KEY_ID = "google-oidc-key-1"
SUBSCRIPTION = "projects/videochat-test/subscriptions/play-rtdn-push"
WEBHOOK = "/api/v1/payments/webhook/googleplay"
TOKEN_PATH = "/token"
CERTS_PATH = "/oauth2/v1/certs"
_API = (
    r"/androidpublisher/v3/applications/(?P<package>[^/]+)"
    r"/purchases/products/(?P<product>[^/]+)/tokens/(?P<token>[^/:]+)"
)
GET_PATH = re.compile(_API + "$")
CONSUME_PATH = re.compile(_API + ":consume$")
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One RSA key per name and test session (the service account's, Google's OIDC signing
    key, a forger's)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@cache
def _certificate_pem(key: rsa.RSAPrivateKey) -> str:
    """A self-signed certificate of `key`, the form Google's oauth2/v1/certs serves."""
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=14))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def service_account_file(directory: Path, token_uri: str, *, key: str = "service-account") -> Path:
    """A service account key file as the Cloud console downloads it, signing with
    `rsa_key(key)`, its token endpoint at `token_uri`."""
    path = directory / f"{key}.json"
    info = {
        "type": "service_account",
        "project_id": "videochat-test",
        "private_key_id": SERVICE_ACCOUNT_KEY_ID,
        "private_key": _pem(rsa_key(key)),
        "client_email": SERVICE_ACCOUNT,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    path.write_text(json.dumps(info))
    return path


def pubsub_token(
    *,
    audience: str = PUBSUB_AUDIENCE,
    email: str = PUBSUB_ACCOUNT,
    email_verified: bool = True,
    issuer: str = "https://accounts.google.com",
    key: str = "google-oidc",
    lifetime: int = 3600,
    issued: float | None = None,
) -> str:
    """The OIDC token Pub/Sub puts in a push's Authorization header (Google's claims), signed
    with `rsa_key(key)` under Google's key id."""
    iat = int(time.time() if issued is None else issued)
    claims = {
        "aud": audience,
        "azp": "111111111111111111111",
        "email": email,
        "email_verified": email_verified,
        "exp": iat + lifetime,
        "iat": iat,
        "iss": issuer,
        "sub": "111111111111111111111",
    }
    return jwt.encode(claims, rsa_key(key), algorithm="RS256", headers={"kid": OIDC_KEY_ID})


def push_body(notification: dict[str, Any], *, message_id: str | None = None) -> bytes:
    """Pub/Sub's push body carrying one Real-time Developer Notification."""
    data = base64.b64encode(json.dumps(notification).encode()).decode()
    message_id = message_id or str(secrets.randbelow(10**16))
    body = {
        "message": {
            "attributes": {},
            "data": data,
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-12-02T12:00:00.000Z",
            "publish_time": "2026-12-02T12:00:00.000Z",
        },
        "subscription": SUBSCRIPTION,
    }
    return json.dumps(body).encode()


def notification(kind: str, payload: dict[str, Any], *, package: str = PACKAGE) -> dict[str, Any]:
    return {
        "version": "1.0",
        "packageName": package,
        "eventTimeMillis": str(int(time.time() * 1000)),
        kind: payload,
    }


def voided_notification(
    order_id: str, purchase_token: str, *, product_type: int = 2, refund_type: int = 1
) -> dict[str, Any]:
    return notification(
        "voidedPurchaseNotification",
        {
            "purchaseToken": purchase_token,
            "orderId": order_id,
            "productType": product_type,
            "refundType": refund_type,
        },
    )


def googleplay_void_delivery(
    order_id: str, purchase_token: str, *, message_id: str = "", refund_type: int = 1
) -> tuple[str, bytes, dict[str, str]]:
    """Pub/Sub's push of Google's notification that the purchase `order_id` was refunded:
    (path, body, headers), valid for the configuration of the `googleplay` fixture. The same
    arguments make the same body (Pub/Sub resends one message unchanged)."""
    body = push_body(
        voided_notification(order_id, purchase_token, refund_type=refund_type),
        message_id=message_id or f"void-{order_id}",
    )
    headers = {"Authorization": f"Bearer {pubsub_token()}", "Content-Type": "application/json"}
    return WEBHOOK, body, headers


def _google_error(status: int, message: str, reason: str, status_name: str) -> Response:
    """An error answer of a Google API (its JSON error body)."""
    error = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": "androidpublisher", "reason": reason}],
        "status": status_name,
    }
    return Response(json.dumps({"error": error}), status, content_type="application/json")


@dataclass
class PlayPurchase:
    """A purchase as Google keeps it (ProductPurchase)."""

    product_id: str
    order_id: str
    state: int = 0
    purchase_type: int | None = None
    quantity: int | None = None
    consumed: bool = False
    acknowledged: bool = False
    purchased_at_ms: int = field(default_factory=lambda: int(time.time() * 1000))

    def resource(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": str(self.purchased_at_ms),
            "purchaseState": self.state,
            "consumptionState": int(self.consumed),
            "developerPayload": "",
            "orderId": self.order_id,
            "acknowledgementState": int(self.acknowledged),
            "regionCode": "US",
        }
        if self.purchase_type is not None:
            answer["purchaseType"] = self.purchase_type
        if self.quantity is not None:
            answer["quantity"] = self.quantity
        return answer


class GooglePlayStandin:
    """Google, as far as our provider talks to it. Tests add purchases (`buy`), break it
    (`outage`) and read what it was asked (`token_grants`, `api_calls`)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.purchases: dict[str, PlayPurchase] = {}
        # The HTTP status every API call answers instead of its result, with Google's error
        # body: 500 or 503, an outage; 401, our service account lacks Play Console
        # permissions. `failing_consume`: the same for consume calls only.
        self.failing: int | None = None
        self.failing_consume: int | None = None
        self.token_grants = 0
        self.certs_fetches = 0
        # (method, product id, purchase token) of every API call that passed authentication.
        self.api_calls: list[tuple[str, str, str]] = []
        self._access_tokens: set[str] = set()
        self._lock = threading.Lock()
        server.expect_request(TOKEN_PATH, method="POST").respond_with_handler(self._token)
        server.expect_request(CERTS_PATH, method="GET").respond_with_handler(self._certs)
        server.expect_request(GET_PATH, method="GET").respond_with_handler(self._get)
        server.expect_request(CONSUME_PATH, method="POST").respond_with_handler(self._consume)

    def url(self, path: str) -> str:
        return self.server.url_for(path)

    def buy(
        self,
        product_id: str,
        *,
        state: int = 0,
        purchase_type: int | None = None,
        quantity: int | None = None,
        consumed: bool = False,
    ) -> tuple[str, str]:
        """A purchase made in the app: (purchase token, order id)."""
        token = f"{secrets.token_urlsafe(24)}.AO-J1Oz{secrets.token_urlsafe(60)}"
        order_id = "GPA." + "-".join(f"{secrets.randbelow(10**4):04d}" for _ in range(3))
        order_id += f"-{secrets.randbelow(10**5):05d}"
        self.purchases[token] = PlayPurchase(
            product_id, order_id, state, purchase_type, quantity, consumed, acknowledged=consumed
        )
        return token, order_id

    def calls(self, method: str) -> list[tuple[str, str]]:
        return [(product, token) for kind, product, token in self.api_calls if kind == method]

    def _token(self, request: Request) -> Response:
        """Google's OAuth token endpoint for a service account's JWT-bearer grant."""
        form = parse_qs(request.get_data(as_text=True))
        assert request.mimetype == "application/x-www-form-urlencoded", request.mimetype
        assert form.get("grant_type") == [JWT_BEARER], form
        assertion = form.get("assertion", [""])[0]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(
                assertion,
                rsa_key("service-account").public_key(),
                algorithms=["RS256"],
                # What google-auth signs (the real endpoint), whatever token_uri says.
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=SERVICE_ACCOUNT,
                options={"require": ["iat", "exp", "iss", "aud"]},
            )
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if header.get("kid") != SERVICE_ACCOUNT_KEY_ID:
            return _oauth_error("invalid_grant", "Invalid JWT: key id.")
        if claims.get("exp", 0) - claims.get("iat", 0) > 3600:
            return _oauth_error("invalid_grant", "Invalid JWT: expiration too far in the future.")
        if SCOPE not in str(claims.get("scope", "")).split():
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience.")
        access_token = f"ya29.{secrets.token_urlsafe(32)}"
        with self._lock:
            self._access_tokens.add(access_token)
            self.token_grants += 1
        answer = {"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"}
        return Response(json.dumps(answer), 200, content_type="application/json")

    def _certs(self, request: Request) -> Response:
        with self._lock:
            self.certs_fetches += 1
        body = json.dumps({OIDC_KEY_ID: _certificate_pem(rsa_key("google-oidc"))})
        return Response(
            body,
            200,
            content_type="application/json",
            headers={"Cache-Control": "public, max-age=20000, must-revalidate, no-transform"},
        )

    def _api(self, request: Request, method: str) -> tuple[Response | None, PlayPurchase | None]:
        """What every API call checks before its own work: the caller's access token, the
        package; then the purchase the path names."""
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or given[len("Bearer ") :] not in self._access_tokens:
            return _google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.",
                "authError",
                "UNAUTHENTICATED",
            ), None
        match = (GET_PATH if method == "get" else CONSUME_PATH).fullmatch(request.path)
        assert match is not None, request.path
        product, token = match["product"], match["token"]
        with self._lock:
            self.api_calls.append((method, product, token))
        if self.failing is not None:
            return _failure(self.failing), None
        if match["package"] != PACKAGE:
            return _google_error(
                404, f"Package not found: {match['package']}.", "applicationNotFound", "NOT_FOUND"
            ), None
        purchase = self.purchases.get(token)
        if purchase is None:
            return _google_error(
                404, "The purchase token was not found.", "purchaseTokenNotFound", "NOT_FOUND"
            ), None
        if purchase.product_id != product:
            return _google_error(
                400,
                "The purchase token does not match the product ID.",
                "purchaseTokenDoesNotMatchProductId",
                "INVALID_ARGUMENT",
            ), None
        return None, purchase

    def _get(self, request: Request) -> Response:
        assert request.args.get("alt") == "json", request.query_string
        refused, purchase = self._api(request, "get")
        if refused is not None or purchase is None:
            return refused or Response(status=500)
        return Response(json.dumps(purchase.resource()), 200, content_type="application/json")

    def _consume(self, request: Request) -> Response:
        assert not request.get_data(), "consume takes no body"
        refused, purchase = self._api(request, "consume")
        if refused is not None or purchase is None:
            return refused or Response(status=500)
        if self.failing_consume is not None:
            return _failure(self.failing_consume)
        with self._lock:
            if purchase.consumed or purchase.state != 0:
                return _google_error(
                    400,
                    "The product purchase is not owned by the user.",
                    "productNotOwnedByUser",
                    "FAILED_PRECONDITION",
                )
            purchase.consumed = purchase.acknowledged = True
        return Response(status=204)


def _failure(status: int) -> Response:
    if status == 401:
        return _google_error(
            401,
            "The current user has insufficient permissions to perform the requested operation.",
            "permissionDenied",
            "PERMISSION_DENIED",
        )
    if status == 503:
        return _google_error(
            503, "The service is currently unavailable.", "backendError", "UNAVAILABLE"
        )
    return _google_error(status, "Internal error encountered.", "backendError", "INTERNAL")


def _oauth_error(error: str, description: str) -> Response:
    body = json.dumps({"error": error, "error_description": description})
    return Response(body, 400, content_type="application/json")


_server: HTTPServer | None = None


def _threaded_server() -> HTTPServer:
    """The stand-in's server, started once per test process. Not the `httpserver` fixture's:
    Google answers requests in parallel, and so must the stand-in, or concurrent requests of
    the tests would reach our database one by one. (Its thread is a daemon.)"""
    global _server
    if _server is None:
        _server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        _server.start()
    return _server


@pytest.fixture(name="googleplay")
def googleplay_fixture(settings: Any, tmp_path: Path) -> Iterator[GooglePlayStandin]:
    """Google Play enabled (besides the providers already configured) and every Google
    endpoint it uses pointed at the stand-in, with a service account key of this test. Fails
    the test if the provider sent a request Google would not accept, or one no handler
    expected."""
    server = _threaded_server()
    server.clear()
    standin = GooglePlayStandin(server)
    if "googleplay" not in settings.PAYMENT_PROVIDERS:
        settings.PAYMENT_PROVIDERS = [*settings.PAYMENT_PROVIDERS, "googleplay"]
    settings.GOOGLEPLAY_PACKAGE_NAME = PACKAGE
    settings.GOOGLEPLAY_SERVICE_ACCOUNT_FILE = str(
        service_account_file(tmp_path, standin.url(TOKEN_PATH))
    )
    settings.GOOGLEPLAY_PUBSUB_AUDIENCE = PUBSUB_AUDIENCE
    settings.GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT = PUBSUB_ACCOUNT
    settings.GOOGLEPLAY_API_BASE = standin.url("/")
    settings.GOOGLEPLAY_OIDC_CERTS_URL = standin.url(CERTS_PATH)
    oidc_certs.clear()
    yield standin
    oidc_certs.clear()
    server.check()
    server.clear()
