"""CSV rows that are safe to open in a spreadsheet (OWASP, "CSV Injection"): a text cell that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, so no
spreadsheet reads it as a formula; numbers (ints, negative ones included, and Decimals) are
written as numbers, so sums still work."""

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """The value as the CSV writer should see it: None empty, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[Sequence[Any]]) -> bytes:
    """`rows` as CSV (RFC 4180: comma, CRLF, quotes where needed), UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue().encode()
