"""Apple App Store in-app purchases (StoreKit 2), verified with Apple's
`app-store-server-library` (set-up and flow: docs/payments.md, "App Store").

The app buys a consumable coin package and sends us the transaction as Apple signed it (a JWS
whose `x5c` header carries Apple's certificate chain). Refunds and revocations arrive as App
Store Server Notifications V2, signed the same way. Nothing is taken from the client unsigned:
every field we use comes out of a JWS whose chain ends at a root certificate the operator
installed (APPSTORE_ROOT_CERTIFICATES), for our bundle id and our environment.
"""

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.JWSTransactionDecodedPayload import (
    JWSTransactionDecodedPayload,
)
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.models.RevocationType import RevocationType
from appstoreserverlibrary.models.Type import Type
from appstoreserverlibrary.signed_data_verifier import (
    SignedDataVerifier,
    VerificationException,
    VerificationStatus,
)
from cattrs.errors import BaseValidationError
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from wallet.purchases.models import PaymentEvent, Purchase
from wallet.purchases.providers import (
    PAYMENT_REVERSED,
    BadSignature,
    MalformedWebhook,
    ReceiptRejected,
    StoreProvider,
    StoreTransaction,
    WebhookEvent,
)

# The environments a server may accept. Apple's other two (Xcode, LocalTesting) are signed by
# no one: the library skips the signature check for them, so they would let anyone mint coins.
_ENVIRONMENTS = {"PRODUCTION": Environment.PRODUCTION, "SANDBOX": Environment.SANDBOX}

# A StoreKit 2 transaction is a few kilobytes (mostly its three certificates); anything far
# larger is not one, and is refused before it is parsed.
SIGNED_TRANSACTION_MAX_CHARS = 16_000

# Apple's price is in milliunits of the currency.
_MILLI = Decimal(1000)
# revocationPercentage is in thousandths of a percent (50000 is 50 %).
_PERCENT_MILLI = Decimal(100_000)

_EVENT_TYPE_MAX = PaymentEvent._meta.get_field("event_type").max_length or 0
_PROVIDER_REF_MAX = Purchase._meta.get_field("provider_ref").max_length or 0

# What a failed verification tells the client (and the webhook's log): why, never a secret.
_NOT_SIGNED_BY_APPLE = "The {} is not signed by the App Store."
_FOR_ANOTHER_APP = "The {} is for another app."
_FOR_ANOTHER_ENVIRONMENT = "The {} is from another App Store environment (sandbox or production)."
_VERIFICATION_MESSAGES = {
    VerificationStatus.INVALID_APP_IDENTIFIER: _FOR_ANOTHER_APP,
    VerificationStatus.INVALID_ENVIRONMENT: _FOR_ANOTHER_ENVIRONMENT,
}

# Exceptions the library lets through for signed data that is not shaped as Apple documents
# it (its converter's and the enum parsers' errors).
_UNREADABLE = (BaseValidationError, ValueError, TypeError, KeyError, AttributeError)


class AppStoreProvider(StoreProvider):
    name = "appstore"
    signature_field = "signedPayload"

    def __init__(self) -> None:
        bundle_id: str = settings.APPSTORE_BUNDLE_ID or ""
        app_apple_id: int = settings.APPSTORE_APP_APPLE_ID or 0
        environment_name = (settings.APPSTORE_ENVIRONMENT or "").strip().upper()
        paths: list[str] = settings.APPSTORE_ROOT_CERTIFICATES or []
        missing = [
            name
            for name, value in (
                ("APPSTORE_BUNDLE_ID", bundle_id),
                # Notifications in production name the app by it (the library checks it).
                ("APPSTORE_APP_APPLE_ID", app_apple_id),
                ("APPSTORE_ROOT_CERTIFICATES", paths),
            )
            if not value
        ]
        if missing:
            raise ImproperlyConfigured(
                f"{', '.join(missing)} not set: App Store purchases cannot be verified "
                "(docs/payments.md, App Store)."
            )
        environment = _ENVIRONMENTS.get(environment_name)
        if environment is None:
            raise ImproperlyConfigured(
                f"APPSTORE_ENVIRONMENT is {settings.APPSTORE_ENVIRONMENT!r}: use PRODUCTION or "
                "SANDBOX (Xcode and local-testing transactions are not signed by Apple)."
            )
        self._bundle_id = bundle_id
        self._environment = environment
        self._verifier = SignedDataVerifier(
            root_certificates=[_der(path) for path in paths],
            # Online checks would ask Apple's OCSP responders, from inside the request, whether
            # the signing certificates were revoked, and judge the chain at the current time.
            # Off: no outside call (nor its 30 s timeout) in the purchase path, and the chain is
            # judged at the JWS's signedDate (a transaction signed while the certificates were
            # valid stays valid, as Apple intends; one signed by an expired certificate is
            # refused). The trade-off: a leaf Apple revoked before it expires is not noticed.
            enable_online_checks=False,
            environment=environment,
            bundle_id=bundle_id,
            app_apple_id=app_apple_id,
        )

    def verify(self, proof: Mapping[str, Any]) -> StoreTransaction:
        signed = proof.get("signed_transaction")
        if not isinstance(signed, str) or not signed:
            raise ReceiptRejected("`signed_transaction` is missing.")
        if len(signed) > SIGNED_TRANSACTION_MAX_CHARS:
            raise ReceiptRejected("`signed_transaction` is too long to be an App Store JWS.")
        transaction = self._transaction(signed, ReceiptRejected)
        if transaction.rawType != Type.CONSUMABLE.value:
            raise ReceiptRejected("The product is not a consumable: it cannot buy coins.")
        if transaction.revocationDate is not None:
            raise ReceiptRejected("The App Store refunded or revoked this transaction.")
        # One package per transaction: StoreKit can buy several units of a consumable at
        # once, and a package's coins are for one.
        if transaction.quantity not in (None, 1):
            raise ReceiptRejected("Buy one coin package at a time (the quantity is not 1).")
        price, currency = _paid(transaction)
        return StoreTransaction(
            provider_ref=_required(transaction.transactionId, "transactionId", ReceiptRejected),
            product_id=_required(transaction.productId, "productId", ReceiptRejected),
            price=price,
            currency=currency,
            metadata=_metadata(transaction),
        )

    def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        # Apple's signature is inside the body (App Store Server Notifications V2): read the
        # body first, then trust nothing in it before the library verified it.
        try:
            body = json.loads(raw_body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise MalformedWebhook("The body is not JSON.") from exc
        signed_payload = body.get("signedPayload") if isinstance(body, dict) else None
        if not isinstance(signed_payload, str) or not signed_payload:
            raise MalformedWebhook("`signedPayload` is missing.")
        try:
            notification = self._verifier.verify_and_decode_notification(signed_payload)
        except VerificationException as exc:
            raise BadSignature(_message(exc.status, "notification")) from exc
        except _UNREADABLE as exc:
            raise MalformedWebhook("The notification is not shaped as Apple documents.") from exc

        raw_type = notification.rawNotificationType
        if not raw_type:
            raise MalformedWebhook("The notification has no notificationType.")
        signed_transaction = notification.data.signedTransactionInfo if notification.data else None
        transaction = (
            self._transaction(signed_transaction, BadSignature) if signed_transaction else None
        )
        metadata = _present(
            notification_uuid=notification.notificationUUID, subtype=notification.rawSubtype
        )
        if transaction is not None:
            metadata.update(_metadata(transaction))
        provider_ref = transaction.transactionId if transaction else ""
        if not isinstance(provider_ref, str) or len(provider_ref) > _PROVIDER_REF_MAX:
            raise MalformedWebhook("The transaction's transactionId is not valid.")

        reason = {
            NotificationTypeV2.REFUND.value: "refund",
            NotificationTypeV2.REVOKE.value: "revocation",
        }.get(raw_type)
        if reason is None:
            # Recorded for support and otherwise ignored (CONSUMPTION_REQUEST, TEST,
            # REFUND_DECLINED, REFUND_REVERSED, ...).
            return WebhookEvent(
                type=f"{self.name}.{raw_type.lower()}"[:_EVENT_TYPE_MAX],
                provider_ref=provider_ref,
                metadata=metadata,
            )
        if transaction is None or not provider_ref:
            raise MalformedWebhook(f"A {raw_type} notification names no transaction.")
        amount, currency = _reversed_amount(transaction)
        if amount is None:
            metadata["whole"] = True
        return WebhookEvent(
            type=PAYMENT_REVERSED,
            provider_ref=provider_ref,
            amount=amount or Decimal(0),
            currency=currency,
            reason=reason,
            metadata=metadata,
        )

    def _transaction(
        self, signed: str, refusal: type[ReceiptRejected] | type[BadSignature]
    ) -> JWSTransactionDecodedPayload:
        """The verified transaction (chain to our roots, signature, bundle id, environment);
        `refusal` with the reason when it is not one."""
        try:
            transaction = self._verifier.verify_and_decode_signed_transaction(signed)
        except VerificationException as exc:
            raise refusal(_message(exc.status)) from exc
        except _UNREADABLE as exc:
            raise refusal("The transaction is not shaped as Apple documents.") from exc
        # The library compared both already; a second look costs nothing and keeps this
        # module's promise whatever a later version of the library does.
        if transaction.bundleId != self._bundle_id:
            raise refusal(_FOR_ANOTHER_APP.format("transaction"))
        if transaction.rawEnvironment != self._environment.value:
            raise refusal(_FOR_ANOTHER_ENVIRONMENT.format("transaction"))
        return transaction


def _der(path: str) -> bytes:
    """The certificate in the file at `path` (DER, as Apple publishes them, or PEM), as DER:
    what the library takes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"APPSTORE_ROOT_CERTIFICATES: cannot read {path!r} ({exc.strerror})."
        ) from exc
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data).public_bytes(Encoding.DER)
        return x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"APPSTORE_ROOT_CERTIFICATES: {path!r} is not a DER or PEM certificate."
        ) from exc


def _message(status: VerificationStatus, subject: str = "transaction") -> str:
    return _VERIFICATION_MESSAGES.get(status, _NOT_SIGNED_BY_APPLE).format(subject)


def _required(
    value: object, name: str, refusal: type[ReceiptRejected] | type[MalformedWebhook]
) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _PROVIDER_REF_MAX:
        raise refusal(f"The transaction's {name} is missing or not valid.")
    return value


def _paid(transaction: JWSTransactionDecodedPayload) -> tuple[Decimal | None, str]:
    """What the buyer paid (price, currency), or (None, "") when Apple does not say both
    (transactions before 2023 say neither): a price is never paired with a guessed currency."""
    price, currency = transaction.price, transaction.currency
    if (
        isinstance(price, bool)
        or not isinstance(price, int)
        or price < 0
        or not isinstance(currency, str)
        or not (len(currency) == 3 and currency.isascii() and currency.isalpha())
    ):
        return None, ""
    return Decimal(price) / _MILLI, currency.upper()


def _reversed_amount(transaction: JWSTransactionDecodedPayload) -> tuple[Decimal | None, str]:
    """How much of the price a prorated refund gave back, with its currency; (None, "") for
    a refund or revocation of the whole purchase (every consumable's)."""
    percentage = transaction.revocationPercentage
    price, currency = _paid(transaction)
    if (
        transaction.rawRevocationType != RevocationType.REFUND_PRORATED.value
        or price is None
        or isinstance(percentage, bool)
        or not isinstance(percentage, int)
        or not 0 < percentage < _PERCENT_MILLI
    ):
        return None, ""
    return price * percentage / _PERCENT_MILLI, currency


def _metadata(transaction: JWSTransactionDecodedPayload) -> dict[str, Any]:
    """What support may want to see of a transaction (JSON-able; dates in Apple's
    milliseconds since the epoch)."""
    return _present(
        environment=transaction.rawEnvironment,
        transaction_id=transaction.transactionId,
        original_transaction_id=transaction.originalTransactionId,
        product_id=transaction.productId,
        purchase_date=transaction.purchaseDate,
        signed_date=transaction.signedDate,
        storefront=transaction.storefront,
        app_account_token=transaction.appAccountToken,
        revocation_date=transaction.revocationDate,
        revocation_reason=transaction.rawRevocationReason,
        revocation_type=transaction.rawRevocationType,
    )


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}
