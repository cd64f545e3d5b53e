"""Buying coins: the packages on sale, purchases credited once on the payment provider's signed
webhook, and the provider interface (docs/payments.md)."""
