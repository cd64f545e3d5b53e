"""Google Play Billing: coin packages bought in the Android app (operator set-up and the
app's flow: docs/payments.md, "Google Play").

The app sends the purchase token of a completed purchase; `verify` asks the Play Developer API
(`purchases.products.get`) whether it is a completed purchase of our app, and the purchase
services credit it once per Play order id. `after_credit` then consumes it at Google, which
also acknowledges it: an unacknowledged purchase is refunded by Google after three days, so a
purchase we refuse or fail to credit is never kept by us. Refunds and chargebacks arrive as
Real-time Developer Notifications, pushed by Pub/Sub with an OIDC token (`parse_webhook`).

Google is called with `google-api-python-client` (the discovery document shipped with the
library, never fetched) over httplib2, authenticated by `google-auth` with the service account
key in GOOGLEPLAY_SERVICE_ACCOUNT_FILE.
"""

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import google_auth_httplib2
import googleapiclient
import httplib2
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.oauth2 import id_token, service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from jwt import PyJWTError

from videochat.errors import ServiceUnavailable
from wallet.purchases.providers import (
    PAYMENT_REVERSED,
    BadSignature,
    MalformedWebhook,
    ReceiptRejected,
    StoreProvider,
    StoreTransaction,
    WebhookEvent,
)

logger = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
# Google's certificates of the keys that sign OIDC tokens, as {key id: PEM certificate}.
GOOGLE_OIDC_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_OIDC_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# Every call to Google, token and certificates included: the app's user is waiting.
TIMEOUT_SECONDS = 10
# The client library's own retries of a 5xx, 429 or network failure (after a random pause of
# up to 2 s); both calls are safe to repeat.
NETWORK_RETRIES = 1
# Pub/Sub mints the push's token just before sending it: its `iat` may be a moment ahead of
# our clock.
CLOCK_SKEW_SECONDS = 30
# How long Google's OIDC certificates are kept when the answer names no max-age.
CERTS_DEFAULT_MAX_AGE_SECONDS = 3600

# ProductPurchase.purchaseState (1 is cancelled), consumptionState and purchaseType (the
# API's reference).
PURCHASED, PENDING = 0, 2
CONSUMED = 1
TEST_PURCHASE = 0
# Real-time Developer Notifications: voidedPurchaseNotification.productType and refundType.
SUBSCRIPTION = 1

# Google's answers that mean "no such purchase of this product in this app" (unknown or
# expired token, a token of another product or app): retrying would not change them.
_UNKNOWN_PURCHASE_STATUSES = (400, 404, 410)
# Google's answers that say our service account may not do this (Play Console permissions).
_NOT_PERMITTED_STATUSES = (401, 403)
# What a purchase answer may tell support, kept as the purchase's metadata.
_KEPT_FIELDS = (
    "purchaseTimeMillis",
    "regionCode",
    "purchaseType",
    "consumptionState",
    "acknowledgementState",
    "obfuscatedExternalAccountId",
)
_ORDER_ID_MAX = 100  # Purchase.provider_ref


class GooglePlayProvider(StoreProvider):
    name = "googleplay"
    signature_field = "Authorization"

    def __init__(self) -> None:
        package = settings.GOOGLEPLAY_PACKAGE_NAME
        key_file = settings.GOOGLEPLAY_SERVICE_ACCOUNT_FILE
        audience = settings.GOOGLEPLAY_PUBSUB_AUDIENCE
        pubsub_account = settings.GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT
        if not (package and key_file and audience and pubsub_account):
            required = {
                "GOOGLEPLAY_PACKAGE_NAME": package,
                "GOOGLEPLAY_SERVICE_ACCOUNT_FILE": key_file,
                "GOOGLEPLAY_PUBSUB_AUDIENCE": audience,
                "GOOGLEPLAY_PUBSUB_SERVICE_ACCOUNT": pubsub_account,
            }
            missing = ", ".join(name for name, value in required.items() if not value)
            raise ImproperlyConfigured(
                f"Not set: {missing}. Google Play purchases cannot be verified "
                "(docs/payments.md, Google Play)."
            )
        self._package = package
        self._credentials = _credentials(key_file)
        self._api_base: str = settings.GOOGLEPLAY_API_BASE or ""
        self._audience = audience
        self._pubsub_account = pubsub_account
        self._certs_url: str = settings.GOOGLEPLAY_OIDC_CERTS_URL or GOOGLE_OIDC_CERTS_URL

    def verify(self, proof: Mapping[str, Any]) -> StoreTransaction:
        product_id: str = proof["product_id"]
        token: str = proof["purchase_token"]
        request = self._products().get(packageName=self._package, productId=product_id, token=token)
        try:
            purchase: dict[str, Any] = self._execute(request, "verify a purchase")
        except HttpError as exc:
            if exc.status_code in _UNKNOWN_PURCHASE_STATUSES:
                raise ReceiptRejected(
                    "Google Play knows no purchase of this product with this token."
                ) from exc
            raise _unavailable("verify a purchase", exc) from exc
        state = purchase.get("purchaseState")
        if state == PENDING:
            # Paid later (cash at a shop): the app sends the token again once Google says
            # the purchase completed. Until then nothing is owed.
            raise ReceiptRejected("This purchase is pending: it is credited once it is paid.")
        if state != PURCHASED:
            raise ReceiptRejected("This purchase was cancelled.")
        if purchase.get("quantity", 1) != 1:
            # One purchase credits one package: never take money for several and credit one.
            # Unconsumed, it is refunded by Google after three days.
            raise ReceiptRejected("Buying several packages at once is not supported.")
        if purchase.get("purchaseType") == TEST_PURCHASE and not _test_purchases_accepted():
            # License testers pay nothing: their purchases are play money, accepted only where
            # play money is (development and staging, like the sandbox provider).
            raise ReceiptRejected("Test purchases are not accepted here.")
        order_id = purchase.get("orderId")
        if not isinstance(order_id, str) or not 0 < len(order_id) <= _ORDER_ID_MAX:
            logger.error("Google Play answered a purchase without a usable orderId: %r", order_id)
            raise ReceiptRejected("Google Play did not name this purchase's order.")
        return StoreTransaction(
            provider_ref=order_id,
            product_id=product_id,
            external_id=token,
            metadata={key: purchase[key] for key in _KEPT_FIELDS if key in purchase},
        )

    def after_credit(self, transaction: StoreTransaction) -> None:
        """Consume the credited purchase (which acknowledges it too), so the user can buy the
        package again and Google keeps the money. A replay finds it consumed and asks
        nothing."""
        if transaction.metadata.get("consumptionState") == CONSUMED:
            return
        request = self._products().consume(
            packageName=self._package,
            productId=transaction.product_id,
            token=transaction.external_id,
        )
        try:
            self._execute(request, "consume a purchase")
        except HttpError as exc:
            if exc.status_code >= 500 or exc.status_code == 429:
                raise _unavailable("consume a purchase", exc) from exc
            # Consumed meanwhile (a concurrent replay, or the app itself): the purchase is
            # credited either way, and the user must not see an error for it.
            logger.warning(
                "Google Play refused to consume order %s (HTTP %s): %s",
                transaction.provider_ref,
                exc.status_code,
                exc.reason,
            )

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        self._verify_push(headers.get("Authorization", ""))
        message, notification = _notification(raw_body)
        if notification.get("packageName") != self._package:
            # One topic may carry several apps' notifications: not ours, nothing to do.
            return WebhookEvent(type="googleplay.other_package", metadata=message)
        voided = notification.get("voidedPurchaseNotification")
        if voided is not None:
            return _voided(voided, message)
        for key, type_ in _IGNORED_NOTIFICATIONS.items():
            if key in notification:
                return WebhookEvent(type=type_, metadata=message)
        # A kind Google added since: recorded, and answered 200 so Pub/Sub stops resending.
        return WebhookEvent(type="googleplay.unknown", metadata=message)

    def _verify_push(self, authorization: str) -> None:
        """The push's OIDC token: signed by Google, for our audience, minted for the push
        subscription's service account (whose e-mail Google verified)."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BadSignature("Authorization: Bearer <OIDC token> is missing.")
        try:
            claims = id_token.verify_token(
                token.strip(),
                oidc_certs,
                audience=self._audience,
                certs_url=self._certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except (auth_exceptions.TransportError, OSError) as exc:
            # Google's certificates cannot be fetched: Pub/Sub retries a 503.
            logger.error("Google's OIDC certificates are unavailable: %s", exc)
            raise ServiceUnavailable("Google Play notifications cannot be verified now.") from exc
        # ValueError: google-auth's verdicts (bad signature, expired, wrong audience) and
        # undecodable tokens; PyJWTError: the same, when the certificates URL serves a JWK set.
        except (ValueError, PyJWTError) as exc:
            raise BadSignature(f"The OIDC token is not valid: {exc}") from exc
        if claims.get("iss") not in GOOGLE_OIDC_ISSUERS:
            raise BadSignature("The OIDC token was not issued by Google.")
        if claims.get("email") != self._pubsub_account or claims.get("email_verified") is not True:
            raise BadSignature("The OIDC token is not the push subscription's service account.")

    def _products(self) -> Any:
        """The API's purchases.products resource. Built per call from the parsed discovery
        document (a fraction of a millisecond; parsing it is 5 ms): httplib2 connections are
        not thread-safe, the credentials (and their access token) are shared."""
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=TIMEOUT_SECONDS)
        )
        service = build_from_document(
            _discovery_document(),
            http=http,
            client_options={"api_endpoint": self._api_base} if self._api_base else None,
        )
        return service.purchases().products()

    def _execute(self, request: Any, action: str) -> Any:
        """Run one API request; HttpError (Google's answer) passes through, everything that
        kept us from getting an answer is ServiceUnavailable."""
        try:
            return request.execute(num_retries=NETWORK_RETRIES)
        except auth_exceptions.RefreshError as exc:
            # Google refused our service account's key: the operator must fix it.
            logger.error("Google Play refused the service account's credentials: %s", exc)
            raise ServiceUnavailable("Google Play cannot be asked right now.") from exc
        except (OSError, httplib2.HttpLib2Error, auth_exceptions.TransportError) as exc:
            raise _unavailable(action, exc) from exc


def _unavailable(action: str, exc: Exception) -> ServiceUnavailable:
    if isinstance(exc, HttpError) and exc.status_code in _NOT_PERMITTED_STATUSES:
        # Not an outage: the operator must grant the permissions (docs/payments.md).
        logger.error(
            "Google Play does not let the service account %s (HTTP %s: %s): check its "
            "permissions in Play Console",
            action,
            exc.status_code,
            exc.reason,
        )
    else:
        logger.warning("Could not %s at Google Play: %s", action, exc)
    return ServiceUnavailable("Google Play cannot be asked right now; try again shortly.")


def _test_purchases_accepted() -> bool:
    return bool(settings.DEBUG or settings.PAYMENTS_ALLOW_SANDBOX)


@lru_cache(maxsize=1)
def _discovery_document() -> dict[str, Any]:
    """The androidpublisher v3 discovery document the library ships (never downloaded),
    parsed once per process."""
    path = (
        Path(googleapiclient.__file__).parent / "discovery_cache/documents/androidpublisher.v3.json"
    )
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@lru_cache(maxsize=4)
def _credentials(path: str) -> service_account.Credentials:
    """The service account's credentials, one per key file and process: they keep the access
    token (an hour) for every request. A key replaced in the same file is read at restart."""
    try:
        return service_account.Credentials.from_service_account_file(path, scopes=[SCOPE])
    except (OSError, ValueError) as exc:
        # The key's contents never reach the message.
        raise ImproperlyConfigured(
            f"GOOGLEPLAY_SERVICE_ACCOUNT_FILE ({path}) is not a readable service account key "
            f"({type(exc).__name__})."
        ) from exc


_IGNORED_NOTIFICATIONS = {
    "testNotification": "googleplay.test",
    "oneTimeProductNotification": "googleplay.one_time_product",
    "subscriptionNotification": "googleplay.subscription",
}


def _notification(raw_body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The push's message ids, and the notification its base64 `data` carries."""
    try:
        body = json.loads(raw_body)
        message = body["message"]
        data = base64.b64decode(message["data"], validate=True)
        notification = json.loads(data)
        ids = {"messageId": str(message["messageId"]), "subscription": str(body["subscription"])}
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError) as exc:
        raise MalformedWebhook(
            "The body is not a Pub/Sub push of a Play notification (message.data, messageId, "
            "subscription)."
        ) from exc
    if not isinstance(notification, dict):
        raise MalformedWebhook("The notification is not a JSON object.")
    return ids, notification


def _voided(voided: object, message: dict[str, Any]) -> WebhookEvent:
    """A refunded, charged back or revoked purchase. Google does not say which: `refund`."""
    if not isinstance(voided, dict):
        raise MalformedWebhook("voidedPurchaseNotification is not an object.")
    order_id = voided.get("orderId")
    token = voided.get("purchaseToken")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= _ORDER_ID_MAX:
        raise MalformedWebhook("voidedPurchaseNotification.orderId is missing or not valid.")
    if not isinstance(token, str) or not token:
        raise MalformedWebhook("voidedPurchaseNotification.purchaseToken is missing.")
    if voided.get("productType") == SUBSCRIPTION:
        # We sell none.
        return WebhookEvent(
            type="googleplay.voided_subscription", external_id=token, metadata=message
        )
    # The whole purchase, also for a quantity-based partial refund (refundType 2): a purchase
    # we credited has quantity 1 (`verify` refuses others).
    return WebhookEvent(
        type=PAYMENT_REVERSED,
        provider_ref=order_id,
        external_id=token,
        reason="refund",
        amount=Decimal(0),
        metadata={**message, "whole": True, "refundType": voided.get("refundType")},
    )


class CachedCertsRequest(transport.Request):
    """google-auth's HTTP request for fetching Google's OIDC certificates, answered from memory
    while Google's Cache-Control max-age says they are current (Google rotates its keys well
    ahead): a push costs no request to Google."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, transport.Response]] = {}

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        with self._lock:
            cached = self._cache.get(url)
            if method == "GET" and cached is not None and cached[0] > time.monotonic():
                return cached[1]
        request = google_auth_httplib2.Request(httplib2.Http(timeout=TIMEOUT_SECONDS))
        response: transport.Response = request(url, method, body, headers, **kwargs)
        if method == "GET" and response.status == 200:
            expires = time.monotonic() + _max_age(response.headers.get("cache-control", ""))
            with self._lock:
                self._cache[url] = (expires, response)
        return response

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def _max_age(cache_control: str) -> int:
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return int(value)
    return CERTS_DEFAULT_MAX_AGE_SECONDS


# One per process, shared by every request's provider.
oidc_certs = CachedCertsRequest()
