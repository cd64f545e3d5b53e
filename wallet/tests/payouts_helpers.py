"""What the payout tests (test_payouts_*) share: Stripe's Connect API as the local stand-in
plays it (accounts, account links, transfers, reversals, a payout's balance transactions),
checked the way Stripe checks them, and Connect's signed webhook deliveries."""

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer
from rest_framework.test import APIClient
from werkzeug import Request, Response

from accounts.models import User
from tests.stripe_standin import (
    STRIPE_CONNECT_WEBHOOK_TEST_SECRET,
    STRIPE_TEST_KEY,
    stripe_error,
    stripe_event,
    stripe_signature,
)
from wallet.payouts.models import PayoutAccount

ONBOARDING = "/api/v1/payouts/onboarding"
ACCOUNT = "/api/v1/payouts/account"
CONNECT_WEBHOOK = "/api/v1/payouts/webhook/stripe"
RATES = ["USD=0.005", "EUR=0.0046", "JPY=0.75"]


def connect_event_delivery(
    event_type: str,
    obj: dict[str, Any],
    *,
    account: str = "",
    secret: str = STRIPE_CONNECT_WEBHOOK_TEST_SECRET,
    timestamp: int | None = None,
) -> tuple[str, bytes, dict[str, str]]:
    """One delivery of a new Connect event: the webhook's path, the JSON body and the headers
    to post (`Stripe-Signature` with the Connect endpoint's test secret, signed now or at
    `timestamp`). Needs the `stripe_api` fixture (it sets that secret)."""
    # The account it happened on; an account's own id for `account.updated`.
    on = account or (obj["id"] if obj.get("object") == "account" else None)
    body = stripe_event(event_type, obj, account=on)
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, secret, timestamp=timestamp),
    }
    return CONNECT_WEBHOOK, body, headers


def account_object(account_id: str, *, payouts_enabled: bool, currency: str = "usd") -> dict:
    """A connected account as `account.updated` carries it."""
    return {
        "id": account_id,
        "object": "account",
        "type": "express",
        "charges_enabled": payouts_enabled,
        "payouts_enabled": payouts_enabled,
        "details_submitted": payouts_enabled,
        "default_currency": currency,
        "capabilities": {"transfers": "active" if payouts_enabled else "inactive"},
    }


def _ok(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, content_type="application/json")


@dataclass
class ConnectStandIn:
    """Stripe's Connect endpoints as Stripe answers them: the secret key is checked; a POST
    with a new Idempotency-Key acts, the same key with the same parameters answers the first
    result again, with other parameters is an idempotency error; parameters Stripe requires
    are checked. `transfer_failures` are answered to transfer requests first, one each.
    `requests` keeps what came: (method, path, Idempotency-Key, form or query fields)."""

    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A payout id -> (its connected account, the transfers whose money it carried).
    payouts: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    transfer_failures: list[Response] = field(default_factory=list)
    requests: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)
    _replies: dict[str, tuple[dict[str, str], dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, server: HTTPServer) -> "ConnectStandIn":
        server.expect_request("/v1/accounts", method="POST").respond_with_handler(
            self._guarded(self._account_create)
        )
        server.expect_request(
            re.compile(r"^/v1/accounts/[^/]+$"), method="GET"
        ).respond_with_handler(self._guarded(self._account_retrieve))
        server.expect_request("/v1/account_links", method="POST").respond_with_handler(
            self._guarded(self._account_link_create)
        )
        server.expect_request("/v1/transfers", method="POST").respond_with_handler(
            self._guarded(self._transfer_create)
        )
        server.expect_request("/v1/transfers", method="GET").respond_with_handler(
            self._guarded(self._transfer_list)
        )
        server.expect_request(
            re.compile(r"^/v1/transfers/[^/]+$"), method="GET"
        ).respond_with_handler(self._guarded(self._transfer_retrieve))
        server.expect_request(
            re.compile(r"^/v1/transfers/[^/]+/reversals$"), method="POST"
        ).respond_with_handler(self._guarded(self._reversal_create))
        server.expect_request("/v1/balance_transactions", method="GET").respond_with_handler(
            self._guarded(self._balance_transactions)
        )
        return self

    # --- What tests do on Stripe's side ---------------------------------------------------

    def enable(self, account_id: str, *, currency: str = "usd", enabled: bool = True) -> None:
        """The host finished onboarding: Stripe pays out to the account (in `currency`); or,
        `enabled=False`, no longer does."""
        self.accounts[account_id].update(
            account_object(account_id, payouts_enabled=enabled, currency=currency)
        )

    def payout(self, account_id: str, transfer_ids: list[str]) -> str:
        """An automatic payout of the account's balance that carried these transfers."""
        payout_id = f"po_test_{secrets.token_hex(8)}"
        self.payouts[payout_id] = (account_id, transfer_ids)
        return payout_id

    def forget_idempotency_keys(self) -> None:
        """A day went by: Stripe no longer knows the keys it saw."""
        self._replies.clear()

    def keys(self, path: str, method: str = "POST") -> list[str]:
        """The Idempotency-Keys of the requests to `path`, in order."""
        return [key for m, p, key, _ in self.requests if (m, p) == (method, path)]

    def forms(self, path: str, method: str = "") -> list[dict[str, str]]:
        """The fields of the requests to `path` (with `method`, when given), in order."""
        return [f for m, p, _, f in self.requests if p == path and method in ("", m)]

    # --- Stripe's side ----------------------------------------------------------------------

    def _guarded(self, handler: Any) -> Any:
        def handle(request: Request) -> Response:
            if request.method == "POST":
                form = dict(parse_qsl(request.get_data(as_text=True), keep_blank_values=True))
            else:
                form = dict(request.args)
            key = request.headers.get("Idempotency-Key", "")
            with self._lock:
                self.requests.append((request.method, request.path, key, form))
                if request.headers.get("Authorization") != f"Bearer {STRIPE_TEST_KEY}":
                    return stripe_error(401, "invalid_request_error", "Invalid API Key provided.")
                if request.method == "POST" and key:
                    replayed = self._replies.get(f"{request.path}:{key}")
                    if replayed is not None:
                        if replayed[0] != form:
                            return stripe_error(
                                400,
                                "idempotency_error",
                                "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with.",
                            )
                        return _ok(replayed[1])
                answer = handler(request, form)
                if isinstance(answer, Response):
                    return answer
                if request.method == "POST" and key:
                    self._replies[f"{request.path}:{key}"] = (form, answer)
                return _ok(answer)

        return handle

    def _account_create(self, request: Request, form: dict[str, str]) -> Any:
        if form.get("type") != "express":
            return stripe_error(400, "invalid_request_error", "Invalid type.", param="type")
        if form.get("capabilities[transfers][requested]") != "true":
            return stripe_error(
                400,
                "invalid_request_error",
                "Express accounts need the transfers capability.",
                param="capabilities",
            )
        account_id = f"acct_test_{secrets.token_hex(8)}"
        self.accounts[account_id] = {
            **account_object(account_id, payouts_enabled=False),
            "email": form.get("email"),
            "metadata": {"user_id": form.get("metadata[user_id]")},
        }
        return self.accounts[account_id]

    def _account_retrieve(self, request: Request, form: dict[str, str]) -> Any:
        account = self.accounts.get(request.path.split("/")[3])
        if account is None:
            return stripe_error(404, "invalid_request_error", "No such account", param="account")
        return account

    def _account_link_create(self, request: Request, form: dict[str, str]) -> Any:
        account_id = form.get("account", "")
        if account_id not in self.accounts:
            return stripe_error(
                400, "invalid_request_error", f"No such account: '{account_id}'", param="account"
            )
        if form.get("type") != "account_onboarding":
            return stripe_error(400, "invalid_request_error", "Invalid type.", param="type")
        for url in ("refresh_url", "return_url"):
            if not form.get(url, "").startswith(("http://", "https://")):
                return stripe_error(400, "invalid_request_error", "Not a valid URL", param=url)
        now = int(time.time())
        return {
            "object": "account_link",
            "created": now,
            "expires_at": now + 300,
            "url": f"https://connect.stripe.com/setup/e/{account_id}/{secrets.token_hex(8)}",
        }

    def _transfer_create(self, request: Request, form: dict[str, str]) -> Any:
        if self.transfer_failures:
            return self.transfer_failures.pop(0)
        amount, currency = form.get("amount", ""), form.get("currency", "")
        if not amount.isdigit() or int(amount) < 1:
            return stripe_error(400, "invalid_request_error", "Invalid integer", param="amount")
        if not re.fullmatch(r"[a-z]{3}", currency):
            return stripe_error(400, "invalid_request_error", "Invalid currency", param="currency")
        account = self.accounts.get(form.get("destination", ""))
        if account is None:
            return stripe_error(
                400, "invalid_request_error", "No such destination", param="destination"
            )
        if not account["payouts_enabled"]:
            return stripe_error(
                400,
                "invalid_request_error",
                "Your destination account needs to have at least one of the following "
                "capabilities enabled: transfers",
                param="destination",
            )
        transfer_id = f"tr_test_{secrets.token_hex(8)}"
        self.transfers[transfer_id] = {
            "id": transfer_id,
            "object": "transfer",
            "amount": int(amount),
            "amount_reversed": 0,
            "currency": currency,
            "destination": account["id"],
            "transfer_group": form.get("transfer_group"),
            "metadata": {"withdrawal_id": form.get("metadata[withdrawal_id]")},
            "reversed": False,
        }
        return self.transfers[transfer_id]

    def _transfer_retrieve(self, request: Request, form: dict[str, str]) -> Any:
        transfer = self.transfers.get(request.path.split("/")[3])
        if transfer is None:
            return stripe_error(404, "invalid_request_error", "No such transfer", param="id")
        return transfer

    def _transfer_list(self, request: Request, form: dict[str, str]) -> Any:
        group = form.get("transfer_group")
        found = [
            t for t in self.transfers.values() if group is None or t["transfer_group"] == group
        ]
        limit = int(form.get("limit", "10"))
        return {
            "object": "list",
            "data": list(reversed(found))[:limit],  # newest first
            "has_more": len(found) > limit,
            "url": "/v1/transfers",
        }

    def _reversal_create(self, request: Request, form: dict[str, str]) -> Any:
        transfer = self.transfers.get(request.path.split("/")[3])
        if transfer is None:
            return stripe_error(404, "invalid_request_error", "No such transfer", param="id")
        if transfer["reversed"]:
            return stripe_error(
                400, "invalid_request_error", "The transfer has already been fully reversed."
            )
        transfer.update(reversed=True, amount_reversed=transfer["amount"])
        return {
            "id": f"trr_test_{secrets.token_hex(8)}",
            "object": "transfer_reversal",
            "amount": transfer["amount"],
            "currency": transfer["currency"],
            "transfer": transfer["id"],
            "metadata": {"withdrawal_id": form.get("metadata[withdrawal_id]")},
        }

    def _balance_transactions(self, request: Request, form: dict[str, str]) -> Any:
        payout = self.payouts.get(form.get("payout", ""))
        account = request.headers.get("Stripe-Account", "")
        # Listed on the connected account: on the platform the payout does not exist.
        if payout is None or payout[0] != account:
            return stripe_error(404, "invalid_request_error", "No such payout", param="payout")
        expanded = "data.source" in [v for k, v in form.items() if k.startswith("expand")]
        data = []
        for transfer_id in payout[1]:
            payment = {
                "id": f"py_test_{secrets.token_hex(8)}",
                "object": "charge",
                "source_transfer": transfer_id,
            }
            data.append(
                {
                    "id": f"txn_test_{secrets.token_hex(8)}",
                    "object": "balance_transaction",
                    "type": "payment",
                    "source": payment if expanded else payment["id"],
                }
            )
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "url": "/v1/balance_transactions",
        }


@pytest.fixture(name="connect")
def connect_fixture(
    stripe_api: HTTPServer, settings: Any, withdrawal_rules: None
) -> ConnectStandIn:
    """`connect`: Stripe pays out, at the test rates, against the stand-in. A test module
    imports this and `stripe_api` (tests/stripe_standin.py) to use it."""
    settings.PAYOUT_PROVIDER = "stripe"
    settings.PAYOUT_COIN_RATES = RATES
    settings.PAYOUT_DEFAULT_CURRENCY = "USD"
    return ConnectStandIn().install(stripe_api)


def deliver(event_type: str, obj: dict[str, Any], *, account: str = "") -> Any:
    """Post one signed Connect delivery as Stripe does; returns the response."""
    path, body, headers = connect_event_delivery(event_type, obj, account=account)
    return Client().post(path, body, content_type="application/json", headers=headers)


def onboard(host: User, connect: ConnectStandIn, *, currency: str = "usd") -> str:
    """The host onboards through the API and Stripe enables her account (`account.updated`);
    returns its id."""
    client = APIClient()
    client.force_authenticate(host)
    assert client.post(ONBOARDING).status_code == 200
    account_id = PayoutAccount.objects.get(user=host).account_id
    connect.enable(account_id, currency=currency)
    response = deliver(
        "account.updated", account_object(account_id, payouts_enabled=True, currency=currency)
    )
    assert response.status_code == 200, response.content
    return account_id
