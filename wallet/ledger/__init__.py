"""The coin ledger: wallets, double-entry transactions, the one transfer primitive every
movement of coins goes through, the wallet's read API, and the reconciliation (docs/wallet.md)."""
