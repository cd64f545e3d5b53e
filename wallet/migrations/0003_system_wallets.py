from django.db import migrations

# Frozen copies of wallet.models' SYSTEM_KINDS, SYSTEM_WALLET_SHARDS and SYSTEM_WALLET_MAX_ID
# as they were when this migration was written (a migration must not follow later code).
SYSTEM_KINDS = ["platform_revenue", "payment_clearing", "withdrawal_hold", "payouts", "adjustments"]
SHARDS = 16
MAX_ID = 1000


def create_wallets(apps, schema_editor):
    Wallet = apps.get_model("wallet", "Wallet")
    for position, kind in enumerate(SYSTEM_KINDS):
        for shard in range(SHARDS):
            Wallet.objects.get_or_create(
                id=1 + position * SHARDS + shard, defaults={"kind": kind, "shard": shard}
            )
    # User wallets take ids above the fixed ids of the system wallets.
    schema_editor.execute(
        "SELECT setval(pg_get_serial_sequence('wallet_wallet', 'id'), "
        f"GREATEST({MAX_ID}, (SELECT MAX(id) FROM wallet_wallet)))"
    )
    User = apps.get_model("accounts", "User")
    have = Wallet.objects.filter(owner__isnull=False).values_list("owner_id", flat=True)
    Wallet.objects.bulk_create(
        Wallet(kind="user", owner_id=user_id)
        for user_id in User.objects.exclude(pk__in=have).values_list("pk", flat=True)
    )


class Migration(migrations.Migration):
    dependencies = [("wallet", "0002_ledger"), ("accounts", "0001_initial")]

    operations = [migrations.RunPython(create_wallets, migrations.RunPython.noop)]
