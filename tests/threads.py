"""Several threads doing the same thing (or different things) at the same moment, for races
on the real database."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def all_at_once(count: int, target: Callable[[], T]) -> list[T]:
    """`target()` in `count` threads released together by a barrier, each closing its own
    database connection afterwards; their results in start order (an exception raises)."""
    return each_at_once(*[target] * count)


def each_at_once(*targets: Callable[[], T]) -> list[T]:
    """Every target in a thread of its own, released together by a barrier, each closing its
    own database connection afterwards; their results in order (an exception raises)."""
    start_together = threading.Barrier(len(targets))

    def run(target: Callable[[], T]) -> T:
        start_together.wait()
        try:
            return target()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = [pool.submit(run, target) for target in targets]
        return [future.result() for future in futures]
