"""How the API writes a moment: ISO 8601 in UTC with a `Z`, microseconds kept, as DRF's
DateTimeField renders it (TIME_ZONE is UTC). Payload builders (`*/payloads.py`,
`chat.selectors.message_data`) use it, so a push says what the REST answer says."""

from datetime import datetime


def iso_timestamp(value: datetime | None) -> str | None:
    """`value` (aware, UTC) as the API writes it; None stays None."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")
