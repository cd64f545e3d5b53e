"""`{% finance_export_form "transactions" %}`: the date-range form that downloads an export
(one button per kind named; none: all of them), shown on the admin index and on the list
pages of what each one exports, to staff who may see finance."""

from datetime import date, timedelta
from typing import Any

from django import template
from django.utils import timezone

from adminpanel.finance.access import may_see_finance
from adminpanel.finance.exports import EXPORTS

register = template.Library()

DEFAULT_DAYS = 30


@register.inclusion_tag("admin/finance/export_form.html", takes_context=True)
def finance_export_form(
    context: template.Context, *kinds: str, first: date | None = None, last: date | None = None
) -> dict[str, Any]:
    """The form, its range `first`..`last` (default: the last 30 days)."""
    today = timezone.now().date()
    request = context.get("request")
    return {
        "allowed": may_see_finance(getattr(request, "user", None)),
        "kinds": kinds or sorted(EXPORTS),
        "first": (first or today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        "last": (last or today).isoformat(),
    }
