"""The user objects that pushes and socket acks carry, built by hand (no serializer on the
hot path); each equals the serializer that documents it (accounts/tests/test_payloads.py)."""

from typing import Any

from accounts.models import User
from videochat.timestamps import iso_timestamp


def profile_data(user: User) -> dict[str, Any]:
    """The caller's own profile (`profile:update`), as ProfileSerializer documents it."""
    return {
        "id": user.pk,
        "email": user.email,
        "name": user.name,
        "gender": user.gender,
        "role": user.role,
        "bio": user.bio,
        "rate_per_minute": user.rate_per_minute if user.is_host else None,
        "created_at": iso_timestamp(user.created_at),
        "lat": user.lat,
        "lon": user.lon,
    }


def party_data(user: User) -> dict[str, Any]:
    """A party of a call or a gift: enough to show who it is without another request."""
    return {"id": user.pk, "name": user.name, "gender": user.gender, "role": user.role}
