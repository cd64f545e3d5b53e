"""Two-factor authentication (TOTP) for the admin: staff enable it for themselves, the
admin's login then asks for a code, and ADMIN_2FA_REQUIRED makes it mandatory for
superusers and the finance group (docs/staff.md, "Two-factor authentication")."""
