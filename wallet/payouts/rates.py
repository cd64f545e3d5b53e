"""What a withdrawal's coins are worth as money: PAYOUT_COIN_RATES (`<currency>=<money per
coin>`), in the host's payout currency when there is a rate for it, else in
PAYOUT_DEFAULT_CURRENCY (docs/withdrawals.md, Payouts)."""

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Currencies without minor units (Stripe's list): an amount is whole units, and Stripe takes
# it as such.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)


def coin_rates() -> dict[str, Decimal]:
    """PAYOUT_COIN_RATES read; raises ImproperlyConfigured on an entry that is not
    `<three-letter code>=<positive decimal>`."""
    rates: dict[str, Decimal] = {}
    for entry in settings.PAYOUT_COIN_RATES:
        currency, _, rate = entry.partition("=")
        try:
            value = Decimal(rate.strip())
        except InvalidOperation:
            value = Decimal(0)
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha() or not value.is_finite() or value <= 0:
            raise ImproperlyConfigured(
                f"PAYOUT_COIN_RATES: {entry!r} is not <currency>=<money per coin>, e.g. USD=0.005"
            )
        rates[currency] = value
    return rates


def payout_currency(account_currency: str) -> str:
    """The currency a host is paid in: her account's, when a rate is configured for it."""
    rates = coin_rates()
    if account_currency.upper() in rates:
        return account_currency.upper()
    default = settings.PAYOUT_DEFAULT_CURRENCY.upper()
    if default not in rates:
        raise ImproperlyConfigured(
            f"PAYOUT_DEFAULT_CURRENCY={default} has no rate in PAYOUT_COIN_RATES."
        )
    return default


def coins_value(*, coins: int, currency: str) -> Decimal:
    """`coins` in `currency`, rounded down to the currency's smallest unit (a host is never
    paid a fraction more than she earned), always with two decimal places as stored."""
    exact = coins * coin_rates()[currency]
    smallest = Decimal(1) if currency in ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return exact.quantize(smallest, rounding=ROUND_DOWN).quantize(Decimal("0.01"))


def minor_units(*, amount: Decimal, currency: str) -> int:
    """`amount` in the currency's smallest unit, as Stripe takes amounts (cents; yen)."""
    if currency.upper() in ZERO_DECIMAL_CURRENCIES:
        return int(amount)
    return int(amount * 100)
