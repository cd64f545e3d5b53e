"""Stripe's side of the Checkout tests: the objects its events carry for a purchase, webhook
deliveries signed as Stripe signs them, and a stand-in for `POST /v1/checkout/sessions` that
answers as Stripe does (sessions per idempotency key, Stripe error bodies)."""

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug import Request, Response

from tests.stripe_standin import (
    STRIPE_TEST_KEY,
    STRIPE_WEBHOOK_TEST_SECRET,
    stripe_error,
    stripe_event,
    stripe_signature,
)
from wallet.purchases.models import Purchase
from wallet.purchases.stripe import to_minor_units

STRIPE_WEBHOOK = "/api/v1/payments/webhook/stripe"


def intent_id(purchase: Purchase) -> str:
    """The id Stripe gives the payment intent of `purchase`'s checkout (in these tests)."""
    return f"pi_test_{purchase.pk}"


def _minor(purchase: Purchase) -> int:
    return to_minor_units(purchase.price, purchase.currency)


def _metadata(purchase: Purchase) -> dict[str, str]:
    return {"provider_ref": purchase.provider_ref, "purchase_id": str(purchase.pk)}


def checkout_session(purchase: Purchase, **fields: Any) -> dict[str, Any]:
    """The Checkout Session of `purchase`, paid, as `checkout.session.completed` carries it."""
    return {
        "id": f"cs_test_{purchase.pk}",
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid",
        "client_reference_id": purchase.provider_ref,
        "amount_total": _minor(purchase),
        "currency": purchase.currency.lower(),
        "payment_intent": intent_id(purchase),
        "metadata": _metadata(purchase),
        **fields,
    }


def payment_intent(purchase: Purchase, **fields: Any) -> dict[str, Any]:
    """The payment intent of `purchase`'s checkout, succeeded."""
    return {
        "id": intent_id(purchase),
        "object": "payment_intent",
        "status": "succeeded",
        "amount": _minor(purchase),
        "amount_received": _minor(purchase),
        "currency": purchase.currency.lower(),
        "metadata": _metadata(purchase),
        **fields,
    }


def charge(purchase: Purchase, **fields: Any) -> dict[str, Any]:
    """The charge of `purchase`'s payment intent (pass `amount_refunded` for a refund)."""
    return {
        "id": f"ch_test_{purchase.pk}",
        "object": "charge",
        "amount": _minor(purchase),
        "amount_refunded": 0,
        "currency": purchase.currency.lower(),
        "payment_intent": intent_id(purchase),
        "metadata": _metadata(purchase),
        **fields,
    }


def dispute(purchase: Purchase, **fields: Any) -> dict[str, Any]:
    """A dispute (chargeback) of `purchase`'s whole charge; a dispute has no metadata of ours."""
    return {
        "id": f"dp_test_{purchase.pk}",
        "object": "dispute",
        "amount": _minor(purchase),
        "currency": purchase.currency.lower(),
        "charge": f"ch_test_{purchase.pk}",
        "payment_intent": intent_id(purchase),
        "reason": "fraudulent",
        "status": "needs_response",
        "metadata": {},
        **fields,
    }


def stripe_event_delivery(
    event_type: str,
    obj: dict[str, Any],
    *,
    secret: str = STRIPE_WEBHOOK_TEST_SECRET,
    event_id: str = "",
    timestamp: int | None = None,
) -> tuple[str, bytes, dict[str, str]]:
    """One delivery of a new Stripe event (or of event `event_id` again): the webhook's path,
    the JSON body and the headers to post (`Stripe-Signature`, signed now or at
    `timestamp`). Post the body as `application/json`."""
    body = stripe_event(event_type, obj, event_id=event_id)
    headers = {"Stripe-Signature": stripe_signature(body, secret, timestamp=timestamp)}
    return STRIPE_WEBHOOK, body, headers


@dataclass
class CheckoutStandIn:
    """`POST /v1/checkout/sessions` as Stripe answers it: the secret key is checked, a new
    Idempotency-Key creates a session, the same key with the same parameters answers that
    session again, and with other parameters is an idempotency error. `failures` are answered
    first, one per request. `requests` keeps what came: (Idempotency-Key, form fields)."""

    failures: list[Response] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    sessions: dict[str, tuple[dict[str, str], dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Request) -> Response:
        form = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
        key = request.headers.get("Idempotency-Key", "")
        with self._lock:
            self.requests.append((key, form))
            if request.headers.get("Authorization") != f"Bearer {STRIPE_TEST_KEY}":
                return stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
            if self.failures:
                return self.failures.pop(0)
            missing = [
                name
                for name in (
                    "mode",
                    "success_url",
                    "line_items[0][quantity]",
                    "line_items[0][price_data][currency]",
                    "line_items[0][price_data][unit_amount]",
                    "line_items[0][price_data][product_data][name]",
                )
                if not form.get(name)
            ]
            if missing:
                return stripe_error(
                    400, "invalid_request_error", f"Missing required param: {missing[0]}."
                )
            if key in self.sessions:
                params, session = self.sessions[key]
                if params != form:
                    return stripe_error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                replayed = Response(json.dumps(session), content_type="application/json")
                replayed.headers["Idempotent-Replayed"] = "true"
                return replayed
            number = len(self.sessions) + 1
            session = {
                "id": f"cs_test_standin_{number}",
                "object": "checkout.session",
                "mode": form["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "client_reference_id": form.get("client_reference_id"),
                "currency": form["line_items[0][price_data][currency]"],
                "amount_total": int(form["line_items[0][price_data][unit_amount]"]),
                "url": f"https://checkout.stripe.com/c/pay/cs_test_standin_{number}",
            }
            if key:
                self.sessions[key] = (form, session)
            return Response(json.dumps(session), content_type="application/json")
