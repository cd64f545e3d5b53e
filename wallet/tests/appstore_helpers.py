"""Playing Apple in tests: a certificate chain shaped as Apple's (root CA, intermediate, leaf,
with the extensions the library's chain verifier looks for), transactions and App Store
Server Notifications V2 signed with its leaf as the App Store signs them (ES256, `x5c`), and
the configuration that trusts this root (`appstore` fixture, or `configure_appstore`).

The provider's real verification runs on all of it: only the root differs from Apple's."""

import base64
import datetime
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

BUNDLE_ID = "com.example.videochat"
APP_APPLE_ID = 1234567890
WEBHOOK = "/api/v1/payments/webhook/appstore"
# Apple's names for the two environments a server accepts (APPSTORE_ENVIRONMENT takes the
# upper-case ones).
SANDBOX = "Sandbox"
PRODUCTION = "Production"

# The extensions Apple's chain verifier requires (appstoreserverlibrary.signed_data_verifier,
# _ChainVerifier.check_oid): the leaf's "App Store receipt signing" and the intermediate's
# "Apple Worldwide Developer Relations" markers.
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
_DER_NULL = b"\x05\x00"

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Signer:
    """A leaf key and the chain it sends in `x5c` (leaf, intermediate, root)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, x509.Certificate, x509.Certificate]

    @property
    def root(self) -> x509.Certificate:
        return self.chain[2]

    def x5c(self) -> list[str]:
        return [base64.b64encode(cert.public_bytes(Encoding.DER)).decode() for cert in self.chain]

    def sign(self, payload: dict[str, Any], key: ec.EllipticCurvePrivateKey | None = None) -> str:
        """`payload` as a JWS with this chain; signed by `key` instead of the leaf's when
        given (a forgery that copies a genuine chain)."""
        return jwt.encode(payload, key or self.key, algorithm="ES256", headers={"x5c": self.x5c()})


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    marker: x509.ObjectIdentifier | None = None,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    # What OpenSSL's strict mode (which the library turns on) wants of a chain: key
    # identifiers, basic constraints and key usage on every certificate.
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(
            issuer.subject
            if issuer
            else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        )
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, _DER_NULL), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _root() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    certificate = _certificate(
        "Test Apple Root CA - G3",
        key,
        None,
        key,
        ca=True,
        not_before=now - 365 * _DAY,
        not_after=now + 3650 * _DAY,
    )
    return certificate, key


def make_signer(
    *,
    root: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    leaf_not_before: datetime.datetime | None = None,
    leaf_not_after: datetime.datetime | None = None,
    leaf_marker: bool = True,
    intermediate_marker: bool = True,
) -> Signer:
    """A fresh chain: under `root` (certificate and key) when given, else under a root of
    its own. The leaf is valid from a day ago for a year unless told."""
    now = datetime.datetime.now(datetime.UTC)
    root_cert, root_key = root or _root()
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    intermediate = _certificate(
        "Test Apple Worldwide Developer Relations CA - G6",
        intermediate_key,
        root_cert,
        root_key,
        ca=True,
        marker=INTERMEDIATE_OID if intermediate_marker else None,
        not_before=now - 365 * _DAY,
        not_after=now + 3650 * _DAY,
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        "Test Prod ECC Mac App Store and iTunes Store Receipt Signing",
        leaf_key,
        intermediate,
        intermediate_key,
        ca=False,
        marker=LEAF_OID if leaf_marker else None,
        not_before=leaf_not_before or now - _DAY,
        not_after=leaf_not_after or now + 365 * _DAY,
    )
    return Signer(leaf_key, (leaf, intermediate, root_cert))


@dataclass(frozen=True)
class TestApple:
    """The trusted chain (`signer`) and its root's key, to issue other leaves under it."""

    signer: Signer
    root_key: ec.EllipticCurvePrivateKey

    __test__ = False  # not a test class, whatever its name

    def under_root(self, **options: Any) -> Signer:
        return make_signer(root=(self.signer.root, self.root_key), **options)


@cache
def test_apple() -> TestApple:
    """One chain per test process (keys take a moment; tests only read them)."""
    root, root_key = _root()
    return TestApple(make_signer(root=(root, root_key)), root_key)


test_apple.__test__ = False  # type: ignore[attr-defined]


def configure_appstore(settings: Any, directory: Path, environment: str = SANDBOX) -> None:
    """Trust the test root (written to `directory`, PEM) and enable the `appstore` provider
    beside the others, for our bundle in `environment` (Apple's spelling)."""
    path = directory / "test-apple-root.pem"
    path.write_bytes(test_apple().signer.root.public_bytes(Encoding.PEM))
    settings.APPSTORE_BUNDLE_ID = BUNDLE_ID
    settings.APPSTORE_APP_APPLE_ID = APP_APPLE_ID
    settings.APPSTORE_ENVIRONMENT = environment.upper()
    settings.APPSTORE_ROOT_CERTIFICATES = [str(path)]
    if "appstore" not in settings.PAYMENT_PROVIDERS:
        settings.PAYMENT_PROVIDERS = [*settings.PAYMENT_PROVIDERS, "appstore"]


@pytest.fixture
def appstore(settings: Any, tmp_path: Path) -> Iterator[TestApple]:
    """The App Store provider enabled in SANDBOX, trusting the test root."""
    configure_appstore(settings, tmp_path)
    yield test_apple()


def now_ms() -> int:
    return int(time.time() * 1000)


def transaction_payload(
    transaction_id: str = "2000000000000001",
    product_id: str = "coins_100",
    *,
    environment: str = SANDBOX,
    **fields: Any,
) -> dict[str, Any]:
    """A consumable's JWSTransaction as StoreKit 2 hands it to the app (Apple's field names;
    `fields` add or replace any, None removes one)."""
    now = now_ms()
    payload = {
        "transactionId": transaction_id,
        "originalTransactionId": transaction_id,
        "bundleId": BUNDLE_ID,
        "productId": product_id,
        "purchaseDate": now - 1000,
        "originalPurchaseDate": now - 1000,
        "quantity": 1,
        "type": "Consumable",
        "inAppOwnershipType": "PURCHASED",
        "signedDate": now,
        "environment": environment,
        "transactionReason": "PURCHASE",
        "storefront": "USA",
        "storefrontId": "143441",
        "price": 4990,
        "currency": "USD",
    }
    payload.update(fields)
    return {key: value for key, value in payload.items() if value is not None}


def signed_transaction(
    transaction_id: str = "2000000000000001",
    product_id: str = "coins_100",
    *,
    signer: Signer | None = None,
    **fields: Any,
) -> str:
    """The JWS the app sends, signed by the trusted test chain unless told."""
    signer = signer or test_apple().signer
    return signer.sign(transaction_payload(transaction_id, product_id, **fields))


def notification_payload(
    notification_type: str,
    signed_transaction_info: str | None,
    *,
    environment: str = SANDBOX,
    **data: Any,
) -> dict[str, Any]:
    """An App Store Server Notification V2's payload about one transaction."""
    body_data: dict[str, Any] = {
        "appAppleId": APP_APPLE_ID,
        "bundleId": BUNDLE_ID,
        "bundleVersion": "1",
        "environment": environment,
        **data,
    }
    if signed_transaction_info is not None:
        body_data["signedTransactionInfo"] = signed_transaction_info
    return {
        "notificationType": notification_type,
        "notificationUUID": str(uuid.uuid4()),
        "data": body_data,
        "version": "2.0",
        "signedDate": now_ms(),
    }


def notification_body(
    notification_type: str,
    transaction_id: str = "2000000000000001",
    *,
    environment: str = SANDBOX,
    signer: Signer | None = None,
    transaction: dict[str, Any] | None = None,
    **data: Any,
) -> bytes:
    """The body Apple POSTs: `{"signedPayload": ...}` for `notification_type` about
    `transaction_id` (revoked now, for REFUND and REVOKE); `transaction` adds or replaces
    fields of the inner transaction."""
    signer = signer or test_apple().signer
    revoked = (
        {"revocationDate": now_ms(), "revocationReason": 0}
        if notification_type in ("REFUND", "REVOKE")
        else {}
    )
    inner = signer.sign(
        transaction_payload(
            transaction_id, environment=environment, **{**revoked, **(transaction or {})}
        )
    )
    payload = notification_payload(notification_type, inner, environment=environment, **data)
    return json.dumps({"signedPayload": signer.sign(payload)}).encode()


def appstore_refund_delivery(
    transaction_id: str, notification_type: str = "REFUND", environment: str = SANDBOX
) -> tuple[str, bytes, dict[str, str]]:
    """One signed REFUND (or REVOKE) delivery of `transaction_id` as Apple sends it: the
    webhook's path, the body and the headers. Needs the `appstore` fixture (or
    `configure_appstore`) in the same `environment`."""
    body = notification_body(notification_type, transaction_id, environment=environment)
    return WEBHOOK, body, {"Content-Type": "application/json"}
