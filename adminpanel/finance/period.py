"""A range of whole UTC days, `from` and `to` inclusive, as the exports and the dashboard
take it (`?from=YYYY-MM-DD&to=YYYY-MM-DD`)."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from videochat.errors import ValidationFailed

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def start(self) -> datetime:
        """The first instant of the range (UTC)."""
        return datetime.combine(self.first, time(), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range (UTC): rows are `start <= created_at < end`."""
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=UTC)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def _date(name: str, raw: str | None) -> date:
    if raw is None or raw == "":
        raise ValidationFailed(
            f"`{name}` is required.", details={name: ["Required, as YYYY-MM-DD (UTC)."]}
        )
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(
            f"`{name}` is not a date.", details={name: ["A date as YYYY-MM-DD (UTC)."]}
        ) from None


def period_parse(*, first: str | None, last: str | None, max_days: int | None = None) -> Period:
    """The period of the query parameters `from` and `to`: both required; a bad date, `from`
    after `to`, or more than `max_days` days is ValidationFailed."""
    period = Period(_date("from", first), _date("to", last))
    if period.first > period.last:
        raise ValidationFailed("`from` is after `to`.", details={"from": ["Not after `to`."]})
    if max_days is not None and (period.last - period.first).days + 1 > max_days:
        raise ValidationFailed(
            f"At most {max_days} days at a time.", details={"to": [f"At most {max_days} days."]}
        )
    return period
