"""The transactions export served by a real uvicorn (ASGI, as in production) is streamed: the
first rows leave before the last ones are read from PostgreSQL, without a Content-Length, and
Django never falls back to collecting the whole body in a list first."""

import http.client
import time

import pytest
from django.db import connection

from adminpanel.tests.finance_helpers import finance_staff
from tests.fixtures import access_token_for
from tests.servers import HOST, running_servers
from wallet.ledger.models import WalletKind, system_wallet_pk
from wallet.ledger.services import wallet_ensure

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]

# More CSV than the loopback socket's buffers and uvicorn's can hold (about 26 MB): the server
# must wait for the client to read before it reads the last batches.
TRANSACTIONS = 120_000
DAY = "2026-03-01"


@pytest.fixture
def servers(tmp_path):
    with running_servers(tmp_path) as started:
        yield started


def ledger_of_one_day(user_wallet: int, transactions: int) -> None:
    """`transactions` adjustments of 1 coin on DAY, written in bulk (balances not kept)."""
    source = system_wallet_pk(WalletKind.ADJUSTMENTS, 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_transaction"
            " (kind, idempotency_key, fingerprint, reference, metadata, created_at)"
            " SELECT 'adjustment', 'bulk:' || i, '', 'bulk', '{}',"
            " %s::timestamptz + make_interval(secs => i * 0.5)"
            " FROM generate_series(1, %s) AS i ORDER BY i",
            [f"{DAY}T00:00:00Z", transactions],
        )
        cursor.execute(
            "INSERT INTO wallet_entry"
            " (transaction_id, wallet_id, type, amount, balance_after, created_at)"
            " SELECT t.id, leg.wallet, 'adjustment', leg.amount, 0, t.created_at"
            " FROM wallet_transaction t"
            " CROSS JOIN LATERAL (VALUES (%s, 1), (%s, -1)) AS leg(wallet, amount)"
            " WHERE t.reference = 'bulk'",
            [user_wallet, source],
        )


def test_the_export_streams_under_asgi(servers, alice):
    user_wallet = wallet_ensure(user_id=alice.pk)
    ledger_of_one_day(user_wallet, TRANSACTIONS)
    token = access_token_for(finance_staff())

    conn = http.client.HTTPConnection(HOST, servers.port, timeout=60)
    conn.request(
        "GET",
        f"/adminpanel/exports/transactions.csv?from={DAY}&to={DAY}",
        headers={"Authorization": f"Bearer {token}"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Length") is None
    assert response.getheader("Transfer-Encoding") == "chunked"
    first = response.read(1 << 16)
    assert first.startswith(b"transaction_id,kind,entry_id,")
    # The server fills what the socket holds, then waits for this client.
    time.sleep(1)
    # A transaction committed now, late in the day, is in the rest of the export: the server
    # had not read that far when the first bytes were sent.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO wallet_transaction"
            " (kind, idempotency_key, fingerprint, reference, metadata, created_at)"
            " VALUES ('adjustment', 'late', '', 'late', '{}', %s) RETURNING id",
            [f"{DAY}T23:59:59Z"],
        )
        (late,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO wallet_entry"
            " (transaction_id, wallet_id, type, amount, balance_after, created_at)"
            " SELECT %s, leg.wallet, 'adjustment', leg.amount, 0, %s"
            " FROM (VALUES (%s, 7), (%s, -7)) AS leg(wallet, amount)",
            [late, f"{DAY}T23:59:59Z", user_wallet, system_wallet_pk(WalletKind.ADJUSTMENTS, 0)],
        )
    rest = response.read()
    conn.close()

    lines = (first + rest).decode().splitlines()
    assert len(lines) == 1 + 2 * TRANSACTIONS + 2
    assert lines[-1].startswith(f"{late},adjustment,")
    assert "must consume synchronous iterators" not in servers.logs()
