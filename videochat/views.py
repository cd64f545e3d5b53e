"""What every app's API views share."""

from typing import TYPE_CHECKING, cast

from rest_framework.request import Request

if TYPE_CHECKING:
    from accounts.models import User


def caller(request: Request) -> "User":
    """The authenticated user of a view behind IsAuthenticated (the default permission)."""
    return cast("User", request.user)
