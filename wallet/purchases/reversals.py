"""Taking a purchase's coins back when its provider refunds, revokes or charges it back
(docs/payments.md, "Refunds and chargebacks").

The coins come back from where they are:
1. the buyer's balance, as far as it goes (`purchase_reversal`);
2. what the buyer already spent of them on hosts inside the settlement window
   (WITHDRAWAL_SETTLEMENT_DAYS): those hosts' share of that spending, not withdrawable yet,
   is taken back from them (`earning_clawback`, shown to them as `purchase_reversal`),
   newest spending first, as far as their balances go;
3. the rest is owed by the buyer (wallet.ledger.debts): a receivable, the account
   restricted until it is settled. Earnings older than the window stay with the hosts: they
   may have been paid out, and the window is the promise that they are final.

All of it is one ledger transaction under the purchase's row lock, keyed by the purchase and
the coins reversed so far: a second delivery of the same event finds nothing left to do."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from adminpanel.audit.services import audit_record
from wallet.ledger.debts import debt_add, receivables_wallet_id, wallets_lock
from wallet.ledger.models import (
    EARNING_ENTRY_TYPES,
    Entry,
    EntryType,
    TransactionKind,
    Wallet,
    WalletKind,
)
from wallet.ledger.services import Leg, system_wallet_id, wallet_ensure, wallet_transfer
from wallet.purchases.models import Purchase

# The buyer's spending that host earnings can come from.
_SPEND_ENTRY_TYPES = [EntryType.CALL_CHARGE, EntryType.GIFT_SENT]
# Spending entries read per query while looking for what the reversed coins paid for.
_SPEND_BATCH = 200


@dataclass(frozen=True)
class _Spend:
    """One spending of the buyer's: `coins` spent, `earned` by the host's wallet (None when
    no host earned from it)."""

    coins: int
    host_wallet: int | None
    earned: int


def purchase_reverse(*, purchase: Purchase, coins: int, reason: str, source: str) -> int:
    """Take back the coins of the (locked, credited) `purchase` beyond those reversed
    already, up to `coins` reversed in all; `source` names the provider's event (for the
    metadata). Returns the coins reversed now (0: nothing left to do)."""
    target = min(coins, purchase.coins)
    now_reversing = target - purchase.reversed_coins
    if now_reversing <= 0:
        return 0
    key = f"purchase:{purchase.pk}:reversal:{target}"
    user_wallet = wallet_ensure(user_id=purchase.user_id)
    clearing = system_wallet_id(kind=WalletKind.PAYMENT_CLEARING, key=key)
    receivables = receivables_wallet_id(user_id=purchase.user_id)
    spends = _spends_since(purchase, user_wallet, now_reversing)
    hosts = {spend.host_wallet for spend in spends if spend.host_wallet is not None}
    locked = wallets_lock({user_wallet, clearing, receivables, *hosts})
    taken = min(locked[user_wallet].balance, now_reversing)
    clawed = _clawbacks(spends, now_reversing - taken, locked)
    owed = now_reversing - taken - sum(clawed.values())
    legs = [Leg(clearing, now_reversing, EntryType.PAYMENT)]
    if taken:
        legs.append(Leg(user_wallet, -taken, EntryType.PURCHASE_REVERSAL))
    legs += [Leg(host, -amount, EntryType.EARNING_CLAWBACK) for host, amount in clawed.items()]
    if owed:
        legs.append(Leg(receivables, -owed, EntryType.RECEIVABLE))
    wallet_transfer(
        kind=TransactionKind.PURCHASE_REVERSAL,
        idempotency_key=key,
        reference=f"purchase:{purchase.pk}",
        metadata={
            "reason": reason,
            "source": source,
            "provider": purchase.provider,
            "provider_ref": purchase.provider_ref,
            "owed": owed,
            "clawed_back": sum(clawed.values()),
        },
        legs=legs,
    )
    if owed:
        debt_add(wallet_id=user_wallet, coins=owed)
    before = {"status": purchase.status, "reversed_coins": purchase.reversed_coins}
    purchase.status = Purchase.Status.REVERSED
    purchase.reversed_coins = target
    purchase.reversal_reason = reason
    purchase.reversed_at = timezone.now()
    purchase.save(
        update_fields=["status", "reversed_coins", "reversal_reason", "reversed_at", "updated_at"]
    )
    audit_record(
        actor=None,
        action="purchase.reverse",
        target=purchase,
        before=before,
        after={
            "status": purchase.status,
            "reversed_coins": target,
            "taken": taken,
            "clawed_back": sum(clawed.values()),
            "owed": owed,
        },
        reason=f"{reason} ({source})",
    )
    return now_reversing


def _spends_since(purchase: Purchase, user_wallet: int, coins: int) -> list[_Spend]:
    """The buyer's spending on hosts since the purchase was credited and inside the
    settlement window, newest first, until `coins` are covered (or none is left)."""
    assert purchase.credit is not None, "only a credited purchase is reversed"
    since = max(
        purchase.credit.created_at,
        timezone.now() - timedelta(days=settings.WITHDRAWAL_SETTLEMENT_DAYS),
    )
    spends: list[_Spend] = []
    covered, before_id = 0, None
    while covered < coins:
        batch = Entry.objects.filter(
            wallet_id=user_wallet, type__in=_SPEND_ENTRY_TYPES, created_at__gte=since
        )
        if before_id is not None:
            batch = batch.filter(id__lt=before_id)
        rows = list(
            batch.order_by("-id").values_list("id", "transaction_id", "amount")[:_SPEND_BATCH]
        )
        if not rows:
            break
        before_id = rows[-1][0]
        earnings = {
            txn: (wallet, amount)
            for txn, wallet, amount in Entry.objects.filter(
                transaction_id__in=[txn for _, txn, _ in rows], type__in=EARNING_ENTRY_TYPES
            ).values_list("transaction_id", "wallet_id", "amount")
        }
        for _, txn, amount in rows:
            host_wallet, earned = earnings.get(txn, (None, 0))
            spends.append(_Spend(-amount, host_wallet, earned))
            covered += -amount
            if covered >= coins:
                break
    return spends


def _clawbacks(spends: list[_Spend], short: int, locked: dict[int, Wallet]) -> dict[int, int]:
    """What each host gives back for `short` coins the buyer spent, newest spending first:
    the host's share of the part of each spending that the reversed coins paid, at most what
    her (locked) wallet holds."""
    clawed: dict[int, int] = {}
    for spend in spends:
        if short <= 0:
            break
        part = min(spend.coins, short)
        short -= part
        if spend.host_wallet is None:
            continue
        share = spend.earned * part // spend.coins
        room = locked[spend.host_wallet].balance - clawed.get(spend.host_wallet, 0)
        amount = min(share, room)
        if amount > 0:
            clawed[spend.host_wallet] = clawed.get(spend.host_wallet, 0) + amount
    return clawed
