from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q


class CoinPackage(models.Model):
    """What a user can buy: `coins` for `price` in `currency`, managed in the admin."""

    coins = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code.")],
        help_text="ISO 4217 code, e.g. USD",
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["position", "coins", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(coins__gte=1), name="package_coins_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="package_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.coins} coins for {self.price} {self.currency}"
