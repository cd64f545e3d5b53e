"""Shapes of the wallet API (API.md, Wallet): what comes in and what goes out."""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallet.ledger.models import CONTRACT_NAME_OF, USER_ENTRY_TYPES, Entry, EntryType, Wallet

# The `type` names of API.md: system wallets' entry types never show on a user's wallet.
CONTRACT_ENTRY_TYPES = [str(entry_type) for entry_type in USER_ENTRY_TYPES]


# --- In ------------------------------------------------------------------------------------


class EntryFilterSerializer(serializers.Serializer[dict[str, Any]]):
    """The query of GET /wallet/transactions (cursor and limit belong to the paginator)."""

    type = serializers.ChoiceField(
        choices=CONTRACT_ENTRY_TYPES,
        required=False,
        help_text="Only entries of this type.",
    )


# --- Out -----------------------------------------------------------------------------------


class WalletSerializer(serializers.ModelSerializer[Wallet]):
    """The caller's coins."""

    # Given in the context by the view (wallet.ledger.selectors.wallet_withdrawable).
    withdrawable = serializers.SerializerMethodField(
        help_text="The part of the balance a host earned (her share of calls and gifts) and "
        "may cash out: earnings older than the settlement window, less what she withdrew or "
        "holds for a withdrawal. Spending draws on bought coins first. Always 0 for users."
    )

    owed = serializers.IntegerField(
        read_only=True,
        help_text="Coins of refunded or charged-back purchases that were spent before the "
        "refund: while above 0 the account may not spend or withdraw (403 "
        "`account_restricted`); the next purchases pay it first.",
    )

    class Meta:
        model = Wallet
        fields = ["balance", "withdrawable", "owed", "updated_at"]

    def get_withdrawable(self, wallet: Wallet) -> int:
        withdrawable: int = self.context["withdrawable"]
        return withdrawable


class EntryDetailsSerializer(serializers.Serializer[dict[str, Any]]):
    """Facts about an entry a client may show. Each key is present only when it applies."""

    gift_id = serializers.IntegerField(required=False)
    gift_name = serializers.CharField(required=False)
    call_id = serializers.IntegerField(required=False)
    purchase_id = serializers.IntegerField(required=False)
    withdrawal_id = serializers.IntegerField(required=False)


# Transaction metadata is written by services and may hold internal notes (a staff
# adjustment's reason, provider data): only these keys ever reach a client.
CLIENT_DETAIL_KEYS = tuple(EntryDetailsSerializer().fields)


class EntrySerializer(serializers.ModelSerializer[Entry]):
    """One movement of the caller's wallet, as the contract names it."""

    type = serializers.SerializerMethodField()
    amount = serializers.IntegerField(
        read_only=True, help_text="Signed: negative when coins left the wallet."
    )
    balance_after = serializers.IntegerField(
        read_only=True, help_text="The wallet's balance right after this entry."
    )
    reference = serializers.CharField(
        source="transaction.reference",
        read_only=True,
        help_text="What the movement was for, e.g. `call:17`; may be empty.",
    )
    details = serializers.SerializerMethodField()

    class Meta:
        model = Entry
        fields = ["id", "type", "amount", "balance_after", "reference", "created_at", "details"]

    @extend_schema_field(serializers.ChoiceField(choices=CONTRACT_ENTRY_TYPES))
    def get_type(self, entry: Entry) -> str:
        return str(CONTRACT_NAME_OF.get(EntryType(entry.type), entry.type))

    @extend_schema_field(EntryDetailsSerializer)
    def get_details(self, entry: Entry) -> dict[str, Any]:
        metadata = entry.transaction.metadata
        return {key: metadata[key] for key in CLIENT_DETAIL_KEYS if key in metadata}
