"""Host verification: only hosts staff have verified may request withdrawals.

Existing hosts: a host who has already earned coins (a `call_earning` or `gift_received`
ledger entry) was serving callers before verification existed, and blocking her payouts
overnight would punish the hosts the business runs on; she is verified now, "grandfathered"
(`host_verified_by` empty, `host_verified_at` the time of this migration). A host who never
earned anything has nothing she may cash out (only earned coins are withdrawable), so she
waits for staff like every new host. docs/staff.md, "Moderation".
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.utils import timezone

EARNINGS = ("call_earning", "gift_received")


def grandfather_earning_hosts(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    User = apps.get_model("accounts", "User")
    Entry = apps.get_model("wallet", "Entry")
    earned = Entry.objects.filter(type__in=EARNINGS, wallet__owner=models.OuterRef("pk"))
    User.objects.filter(role="host", host_verified_at__isnull=True).filter(
        models.Exists(earned)
    ).update(host_verified_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("wallet", "0002_ledger"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="host_verified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="host_verified_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        # Reversing only drops the columns: nothing to undo in the data.
        migrations.RunPython(grandfather_earning_hosts, migrations.RunPython.noop),
    ]
