"""CSV lines as the exports write them: RFC 4180 (comma, CRLF, quotes where needed), UTF-8.
Cells come ready from PostgreSQL (adminpanel/finance/exports.py makes text safe for a
spreadsheet there); numbers, Decimals included, are written as numbers and None as an empty
cell."""

import csv
import io
from collections.abc import Iterable, Sequence


def csv_lines(rows: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()
