from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class StaffAccess(models.Model):
    """No table: the home of the permissions of staff pages that have no model of their own
    (the finance dashboard and exports, reading a reported conversation), granted to staff
    like any model permission."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_finance", "Can see the finance dashboard and download the exports"),
            ("read_conversations", "Can read the messages of a reported conversation"),
        ]

    def __str__(self) -> str:
        return "Staff access"


class AuditEntry(models.Model):
    """One staff action (or automatic decision) on money or users: who, what, on what,
    before → after, why, when and from where. Append-only: written by
    `adminpanel.audit.services.audit_record` in the transaction of the action, and a database
    trigger refuses UPDATE, DELETE and TRUNCATE (migration 0002, docs/staff.md)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # No database constraint and nothing done on delete: the row may never change, so a
    # deleted user's id stays, and `actor_label` (their e-mail then) says who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, help_text="E-mail of the actor, or 'system'.")
    action = models.CharField(max_length=50, db_index=True)
    target_type = models.CharField(max_length=50, help_text="app_label.model")
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200, blank=True, default="")
    before = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.TextField(blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        # Read only: entries are written by audit_record, and never changed or deleted.
        default_permissions = ("view",)
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["actor", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type}:{self.target_id}"
