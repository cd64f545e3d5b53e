from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import email_normalize
from adminpanel.two_factor.services import totp_device_remove


class Command(BaseCommand):
    help = (
        "Turns off two-factor for a member of staff who lost their authenticator: they log "
        "in with the password and set it up again (docs/staff.md, 'Two-factor authentication')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email=email_normalize(options["email"])).first()
        if user is None:
            raise CommandError(f"No account with the e-mail {options['email']}.")
        removed = totp_device_remove(user=user)
        self.stdout.write(f"Two-factor is off for {user.email} ({removed} device(s) removed).")
