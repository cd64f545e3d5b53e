"""Several threads doing the same thing at the same moment, for races on the real database."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def all_at_once(count: int, target: Callable[[], T]) -> list[T]:
    """`target()` in `count` threads released together by a barrier, each closing its own
    database connection afterwards; their results in start order (an exception raises)."""
    start_together = threading.Barrier(count)

    def run() -> T:
        start_together.wait()
        try:
            return target()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [future.result() for future in futures]
