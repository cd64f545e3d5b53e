"""Payouts room: hosts' payout accounts at the payout provider (Stripe Connect onboarding)
and the provider's events about them and about transfers (docs/withdrawals.md)."""
