from rest_framework import serializers

from wallet.models import Wallet


class WalletSerializer(serializers.ModelSerializer[Wallet]):
    class Meta:
        model = Wallet
        fields = ["balance", "updated_at"]
