from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Gift(models.Model):
    """An item of the gift catalog that staff manage in the admin."""

    name = models.CharField(max_length=60, unique=True)
    icon = models.CharField(max_length=200, help_text="Icon name or URL the apps show.")
    cost_coins = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "cost_coins", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(cost_coins__gte=1), name="gift_cost_positive")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.cost_coins} coins)"
