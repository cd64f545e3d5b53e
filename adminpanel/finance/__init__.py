"""Finance's side of the admin: CSV exports of the ledger and its sources, and the dashboard
(docs/staff.md, "Finance: the dashboard and the exports")."""
