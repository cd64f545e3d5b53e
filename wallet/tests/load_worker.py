"""One worker's share of the ledger load in wallet/tests/test_load.py, importable both by the
test's threads and by the worker processes it starts (a test module is not imported by
another module)."""

import random
from typing import Any

from videochat.errors import InsufficientFunds
from wallet.ledger.models import EntryType, TransactionKind, WalletKind
from wallet.ledger.services import Leg, system_wallet_id, wallet_transfer


def hammer(*, worker: str, plan: dict[str, Any], ops: int, seed: int) -> dict[str, Any]:
    """One worker's share of the load. Returns, as JSON-ready data, what each transfer
    reported: applied (with its legs), replayed (with the transaction it found), refused
    for lack of funds, or any other error (which fails the test)."""
    rng = random.Random(seed)
    wallets: list[int] = plan["wallets"]
    a, b = plan["pair"]
    tally: dict[str, Any] = {"applied": [], "replayed": [], "refused": 0, "errors": []}
    shared = 0
    for n in range(ops):
        key = f"{worker}:{n}"
        dice = rng.random()
        if dice < 0.35:  # anyone to anyone
            src, dst = rng.sample(wallets, 2)
            coins = rng.randint(1, 40)
            legs = [Leg(src, -coins, EntryType.GIFT_SENT), Leg(dst, coins, EntryType.GIFT_RECEIVED)]
        elif dice < 0.55:  # deadlock bait: half the workers pay A->B while the others pay B->A
            src, dst = (a, b) if seed % 2 else (b, a)
            coins = rng.randint(1, 20)
            legs = [Leg(src, -coins, EntryType.GIFT_SENT), Leg(dst, coins, EntryType.GIFT_RECEIVED)]
        elif dice < 0.8:  # a call minute to the hot host: she and a revenue shard are credited
            src = rng.choice(wallets)
            coins = rng.randint(2, 30)
            fee = system_wallet_id(kind=WalletKind.PLATFORM_REVENUE, key=key)
            legs = [
                Leg(src, -coins, EntryType.CALL_CHARGE),
                Leg(plan["hot"], coins - coins // 2, EntryType.CALL_EARNING),
                Leg(fee, coins // 2, EntryType.PLATFORM_FEE),
            ]
        else:  # every worker sends the same keys in the same order, so they collide
            key = f"shared:{shared}"
            coins = shared % 9 + 1
            dst = wallets[shared % len(wallets)]
            legs = [
                Leg(plan["bank"], -coins, EntryType.GIFT_SENT),
                Leg(dst, coins, EntryType.GIFT_RECEIVED),
            ]
            shared += 1
        try:
            result = wallet_transfer(kind=TransactionKind.GIFT, idempotency_key=key, legs=legs)
        except InsufficientFunds:
            tally["refused"] += 1
            continue
        except Exception as error:
            tally["errors"].append(f"{key}: {type(error).__name__}: {error}")
            continue
        if result.replayed:
            tally["replayed"].append([key, result.transaction.pk])
        else:
            moved = [[leg.wallet_id, leg.amount] for leg in legs]
            tally["applied"].append([key, result.transaction.pk, moved])
    return tally
