"""Hosts cashing out coins: the request and its hold, staff review, the payout sweep and the
payout provider interface (docs/withdrawals.md)."""
