"""A CSV download streamed a batch at a time, with flat memory under ASGI and WSGI alike.

Django's StreamingHttpResponse, given a synchronous iterator, consumes all of it into a list
before sending a byte when it is served over ASGI (uvicorn, daphne: production here); given an
asynchronous one, the same happens under WSGI and in the test client. This response has
both: WSGI iterates the batches directly, ASGI awaits each batch on the request's thread
(`sync_to_async`) and gives that batch's connection back to the pool before sending it, so a
slow client never holds a PostgreSQL connection while it reads."""

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import StreamingHttpResponse

from adminpanel.finance.exports import Export, Keyset
from adminpanel.finance.period import Period


class ExportStream:
    """The header, then the batches of `export` over `period`."""

    def __init__(self, export: Export, period: Period) -> None:
        self.export = export
        self.period = period

    def __iter__(self) -> Iterator[bytes]:
        yield self.export.header()
        after: Keyset | None = None
        while True:
            lines, after = self.export.batch(period=self.period, after=after)
            if after is None:
                return
            yield lines

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.export.header()
        after: Keyset | None = None
        while True:
            lines, after = await sync_to_async(self._batch_released)(after)
            if after is None:
                return
            yield lines

    def _batch_released(self, after: Keyset | None) -> tuple[bytes, Keyset | None]:
        try:
            return self.export.batch(period=self.period, after=after)
        finally:
            connection.close()  # back to the pool until the next batch


class ExportResponse(StreamingHttpResponse):
    """A CSV attachment streamed from an ExportStream (no Content-Length: chunked)."""

    def __init__(self, stream: ExportStream, *, filename: str) -> None:
        super().__init__(iter(stream), content_type="text/csv; charset=utf-8")
        self.stream = stream
        self["Content-Disposition"] = f'attachment; filename="{filename}"'
        self["Cache-Control"] = "no-store"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.stream:
            yield part
