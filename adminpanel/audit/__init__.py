"""The audit log: what staff (and automatic decisions) did to money and users, written in the
transaction of the action and never changed afterwards (docs/staff.md, "Audit log")."""
