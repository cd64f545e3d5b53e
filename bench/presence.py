"""Presence throughput over --users online users: heartbeats per second through
`presence_socket_alive` (the Lua script every socket's heartbeat and activity run), and nearby
searches per second through `presence_nearby` + `presence_statuses` (the Redis side of
GET /presence/nearby), each beside raw redis-py sending the same Redis commands (one
pipeline per heartbeat; GEOSEARCH then MGET of the status keys per search) in the same run.

Users are spread evenly over a box of Europe (35 to 60° N, 10° W to 30° E); searches centre
on a random point of it, with a 50 km radius (up to about 90 users inside) and the 500 km
maximum (up to about 9,000 inside, of which a page reads the nearest 1,000). Heartbeats
refresh users who are already online (the steady state: no announcement, so no MongoDB
read). It prints a table,
then one `ratio presence <what>: <project / raw>` line per comparison.

    .venv/bin/python -m bench.presence [--seconds 3] [--users 100000]

Redis keys live under their own prefix, videochat-bench-presence, deleted before and after;
MongoDB reads (announcements while seeding) go to the empty videochat_bench database.
"""

import argparse
import os
import random
import time
from typing import Any
from urllib.parse import urlsplit

from bench._common import (
    bench_database_url,
    django_setup,
    progress,
    ratio_line,
    run_workers,
)

PREFIX = "videochat-bench-presence"
CONCURRENCY = (1, 4)
ROUNDS = 2  # alternating project/raw, so drift in the machine hits both alike
LAT, LON = (35.0, 60.0), (-10.0, 30.0)
RADII_KM = (50, 500)


def point(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(*LAT), rng.uniform(*LON)


class ProjectHeartbeat:
    def __init__(self, index: int, users: int) -> None:
        from accounts.presence import presence_socket_alive

        self.alive = presence_socket_alive
        self.rng = random.Random(index)
        self.users = users

    def step(self) -> None:
        user_id = self.rng.randrange(1, self.users + 1)
        self.alive(user_id=user_id, socket_id=f"bench-{user_id}")

    def close(self) -> None:
        pass


class RawHeartbeat:
    """What presence_socket_alive's script does, as one redis-py pipeline of the same
    commands (without the script's branches: a steady-state heartbeat takes none)."""

    def __init__(self, index: int, users: int) -> None:
        from django.conf import settings

        self.redis = raw_client()
        self.rng = random.Random(index)
        self.users = users
        self.ttl = settings.PRESENCE_TTL_SECONDS

    def step(self) -> None:
        user_id = self.rng.randrange(1, self.users + 1)
        now = time.time()
        until = now + self.ttl
        key = f"{PREFIX}:presence"
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(f"{key}:sockets:{user_id}", {f"bench-{user_id}": until})
        pipe.zremrangebyscore(f"{key}:sockets:{user_id}", "-inf", now - 3600)
        pipe.expire(f"{key}:sockets:{user_id}", 3600)
        pipe.zrange(f"{key}:sockets:{user_id}", -1, -1, withscores=True)
        pipe.set(f"{key}:{user_id}", "online", pxat=int(until * 1000))
        pipe.expire(f"{key}:busy:{user_id}", self.ttl)
        pipe.zadd(f"{key}:online", {user_id: user_id})
        pipe.zadd(f"{key}:until", {user_id: until})
        pipe.exists(f"{key}:{user_id}", f"{key}:busy:{user_id}")
        pipe.get(f"{key}:announced:{user_id}")
        pipe.set(f"{key}:announced:{user_id}", "online", ex=3600)
        pipe.execute()

    def close(self) -> None:
        self.redis.close()


class ProjectNearby:
    def __init__(self, index: int, radius_km: float) -> None:
        from accounts.discovery import SCAN_MAX
        from accounts.presence import presence_nearby, presence_statuses

        self.nearby, self.statuses, self.count = presence_nearby, presence_statuses, SCAN_MAX
        self.rng = random.Random(1000 + index)
        self.radius_km = radius_km

    def step(self) -> None:
        lat, lon = point(self.rng)
        hits = self.nearby(lat=lat, lon=lon, radius_km=self.radius_km, count=self.count)
        self.statuses(user_ids=[user_id for user_id, _ in hits])

    def close(self) -> None:
        pass


class RawNearby:
    def __init__(self, index: int, radius_km: float) -> None:
        from accounts.discovery import SCAN_MAX

        self.redis = raw_client()
        self.rng = random.Random(1000 + index)
        self.radius_km, self.count = radius_km, SCAN_MAX

    def step(self) -> None:
        lat, lon = point(self.rng)
        hits = self.redis.geosearch(
            f"{PREFIX}:presence:geo",
            longitude=lon,
            latitude=lat,
            radius=self.radius_km,
            unit="km",
            sort="ASC",
            count=self.count,
            withdist=True,
        )
        keys = [
            key
            for member, _ in hits
            for key in (f"{PREFIX}:presence:{int(member)}", f"{PREFIX}:presence:busy:{int(member)}")
        ]
        if keys:
            self.redis.mget(keys)

    def close(self) -> None:
        self.redis.close()


def raw_client() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def keys_delete() -> None:
    client = raw_client()
    batch = []
    for key in client.scan_iter(match=f"{PREFIX}:*", count=5000):
        batch.append(key)
        if len(batch) == 5000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)
    client.close()


def seed(users: int) -> None:
    """Every user comes online through the project's own first heartbeat, at a random spot."""
    from concurrent.futures import ThreadPoolExecutor

    from accounts.presence import presence_socket_alive

    rng = random.Random(7)
    spots = [point(rng) for _ in range(users)]

    def connect(user_id: int) -> None:
        presence_socket_alive(
            user_id=user_id, socket_id=f"bench-{user_id}", location=spots[user_id - 1]
        )
        if user_id % 20000 == 0:
            progress(f"{user_id} of {users} online")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(connect, range(1, users + 1)))


def measure(
    project: Any, raw: Any, workers: int, seconds: float, label: str
) -> tuple[float, float]:
    rate = {"project": 0.0, "raw": 0.0}
    paths = {"project": project, "raw": raw}
    for round_ in range(ROUNDS):
        order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
        for path in order:
            progress(f"{label} w{workers} {path}, round {round_ + 1} of {ROUNDS}")
            rate[path] += run_workers(paths[path], workers, seconds / ROUNDS) / ROUNDS
    return rate["project"], rate["raw"]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args()

    os.environ["MONGO_URL"] = "mongodb://127.0.0.1:27017/videochat_bench"
    django_setup(bench_database_url("videochat_bench"))
    from django.conf import settings

    if urlsplit(settings.REDIS_URL).hostname != "127.0.0.1":
        raise SystemExit(f"refusing to bench against {settings.REDIS_URL}: 127.0.0.1 only")
    # Presence reads its prefix at every call: set here, it keeps the bench's keys apart.
    settings.REDIS_PREFIX = PREFIX
    keys_delete()
    try:
        progress(f"bringing {args.users} users online (the project's first heartbeat each)")
        started = time.monotonic()
        seed(args.users)
        progress(f"seeded in {time.monotonic() - started:.1f} s")
        rows = []
        for workers in CONCURRENCY:
            project, raw = measure(
                lambda n: ProjectHeartbeat(n, args.users),
                lambda n: RawHeartbeat(n, args.users),
                workers,
                args.seconds,
                "heartbeat",
            )
            rows.append(("heartbeat", workers, project, raw))
            for radius in RADII_KM:
                project, raw = measure(
                    lambda n, r=radius: ProjectNearby(n, r),
                    lambda n, r=radius: RawNearby(n, r),
                    workers,
                    args.seconds,
                    f"nearby r{radius}",
                )
                rows.append((f"nearby r{radius}", workers, project, raw))
    finally:
        keys_delete()

    print()
    print(f"{args.users} users online")
    print(f"{'what':<12}  {'workers':>7}  {'project/s':>9}  {'raw/s':>7}  {'ratio':>5}")
    for what, workers, project, raw in rows:
        print(f"{what:<12}  {workers:>7}  {project:>9.0f}  {raw:>7.0f}  {project / raw:>5.2f}")
    print()
    for what, workers, project, raw in rows:
        print(ratio_line(f"presence {what} w{workers}", project, raw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
