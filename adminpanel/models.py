from django.db import models


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
