"""Finding people (API.md, Presence and matchmaking): pages of online users, and online users
near a point. Redis says who is online and where; PostgreSQL filters by role, gender, active
account and blocks. Offline users never appear: every candidate's status is read with the
one definition of presence (accounts.presence), so a stale index entry (a crashed server's
user not yet swept) is skipped rather than shown."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from accounts.models import Block, User
from accounts.presence import (
    PresenceStatus,
    presence_nearby,
    presence_online_ids,
    presence_statuses,
)

# How many index entries one page looks at, at most: a page of a rare filter (a gender among
# few online hosts) may come back short, with a `next` to go on, instead of walking the
# whole index in one request.
SCAN_MAX = 1000
CHUNK = 200
# The deepest position a nearby page may start at: Redis sorts everything before it on every
# page, and its COUNT must stay a sane integer. The list ends there.
NEARBY_OFFSET_MAX = 100_000


@dataclass(frozen=True)
class Found:
    user: User
    status: PresenceStatus
    distance_km: float | None = None


def visible_candidates(
    *, viewer: User, user_ids: Iterable[int], role: str | None, gender: str | None
) -> dict[int, User]:
    """The users among `user_ids` the viewer may be shown: active, not the viewer, no block
    either way, matching the role and gender when given."""
    users = (
        User.objects.filter(pk__in=list(user_ids), is_active=True)
        .exclude(pk=viewer.pk)
        .exclude(Exists(Block.objects.filter(blocker=OuterRef("pk"), blocked=viewer)))
        .exclude(Exists(Block.objects.filter(blocker=viewer, blocked=OuterRef("pk"))))
    )
    if role:
        users = users.filter(role=role)
    if gender:
        users = users.filter(gender=gender)
    return {user.pk: user for user in users}


def _present(
    viewer: User, user_ids: list[int], role: str | None, gender: str | None
) -> tuple[dict[int, User], dict[int, PresenceStatus]]:
    statuses = presence_statuses(user_ids=user_ids)
    online = [user_id for user_id in user_ids if statuses[user_id] != "offline"]
    return visible_candidates(viewer=viewer, user_ids=online, role=role, gender=gender), statuses


def presence_online_page(
    *, viewer: User, role: str | None, gender: str | None, below: int | None, limit: int
) -> tuple[list[Found], int | None]:
    """Online (or busy) users, highest id first, starting below the user id `below`. Returns
    the page and the id to continue below, or None at the end of the list."""
    found: list[Found] = []
    scanned = 0
    while scanned < SCAN_MAX:
        ids = presence_online_ids(below=below, count=CHUNK)
        users, statuses = _present(viewer, ids, role, gender)
        for user_id in ids:
            below = user_id
            if user_id in users:
                found.append(Found(users[user_id], statuses[user_id]))
                if len(found) == limit:
                    return found, below
        if len(ids) < CHUNK:
            return found, None
        scanned += len(ids)
    return found, below


def presence_nearby_page(
    *,
    viewer: User,
    lat: float,
    lon: float,
    radius_km: float,
    role: str | None,
    gender: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Found], int | None]:
    """Online (or busy) users within `radius_km` of the point, nearest first, skipping the
    first `offset` positions of the map index. Returns the page and the offset to go on
    from, or None at the end. Redis sorts by distance from the start on every page, so a
    deep page costs more than the first; users who move between two pages may repeat or
    be skipped, as in any live list. The list ends at NEARBY_OFFSET_MAX."""
    end = offset + SCAN_MAX
    hits = presence_nearby(lat=lat, lon=lon, radius_km=radius_km, count=end)
    window = hits[offset:]
    users, statuses = _present(viewer, [user_id for user_id, _ in window], role, gender)
    found: list[Found] = []
    for position, (user_id, distance) in enumerate(window, start=offset + 1):
        if user_id in users:
            found.append(Found(users[user_id], statuses[user_id], round(distance, 3)))
            if len(found) == limit:
                more = position < len(hits) or len(hits) == end
                return found, _within_nearby(position) if more else None
    return found, _within_nearby(end) if len(hits) == end else None


def _within_nearby(offset: int) -> int | None:
    return offset if offset <= NEARBY_OFFSET_MAX else None
