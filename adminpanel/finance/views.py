"""The finance pages: the CSV exports and the dashboard."""

from datetime import timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse
from django.utils import timezone

from adminpanel.finance.access import finance_refusal, may_see_finance
from adminpanel.finance.charts import bar_chart
from adminpanel.finance.dashboard import finance_overview
from adminpanel.finance.exports import EXPORTS
from adminpanel.finance.period import Period, period_parse
from adminpanel.finance.streaming import ExportResponse, ExportStream
from videochat.errors import ApplicationError, error_response


def export_csv(request: HttpRequest, kind: str) -> HttpResponseBase:
    """`GET /adminpanel/exports/<kind>.csv?from=YYYY-MM-DD&to=YYYY-MM-DD` (both required)."""
    refusal = finance_refusal(request)
    if refusal is not None:
        return refusal
    if request.method not in ("GET", "HEAD"):
        return error_response("method_not_allowed", "Exports are read with GET.", 405)
    export = EXPORTS.get(kind)
    if export is None:
        return error_response("not_found", f"No export {kind!r}.", 404, {"kinds": sorted(EXPORTS)})
    try:
        period = period_parse(first=request.GET.get("from"), last=request.GET.get("to"))
    except ApplicationError as error:
        return error_response(error.code, error.message, error.status, error.details)
    filename = f"{kind}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return ExportResponse(ExportStream(export, period), filename=filename)


# The dashboard's charts: (title, unit, series names of Overview.coins with their labels).
COIN_CHARTS = [
    ("Coins purchased", "coins", {"purchased": "purchased"}),
    ("Coins spent", "coins", {"calls_spent": "on calls", "gifts_spent": "on gifts"}),
    ("Host earnings", "coins", {"host_earnings": "host earnings"}),
    ("Platform revenue", "coins", {"platform_revenue": "platform revenue"}),
    ("Withdrawals paid", "coins", {"withdrawals_paid": "withdrawals paid"}),
]
DEFAULT_DAYS = 30
MAX_DAYS = 366


def finance_dashboard(request: HttpRequest) -> HttpResponse:
    """`/admin/finance/?from=&to=`: the figures of a range of UTC days (default: the last 30
    days, at most 366). Behind the admin's login (admin.site.admin_view in the URLconf)."""
    if not may_see_finance(request.user):
        raise PermissionDenied
    today = timezone.now().date()
    default = Period(today - timedelta(days=DEFAULT_DAYS - 1), today)
    error = ""
    try:
        period = period_parse(
            first=request.GET.get("from") or default.first.isoformat(),
            last=request.GET.get("to") or default.last.isoformat(),
            max_days=MAX_DAYS,
        )
    except ApplicationError as refused:
        error, period = refused.message, default
    overview = finance_overview(period)
    days = period.days
    charts = [
        bar_chart(
            title=title,
            days=days,
            series={label: overview.coins[name] for name, label in series.items()},
            unit=unit,
        )
        for title, unit, series in COIN_CHARTS
    ]
    money_charts = [
        bar_chart(
            title=f"Money received ({currency})",
            days=days,
            series={currency: values},
            unit=currency,
        )
        for currency, values in overview.money.items()
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Finance dashboard",
        "period": period,
        "error": error,
        "overview": overview,
        "charts": zip([title for title, _, _ in COIN_CHARTS], charts, strict=True),
        "money_charts": zip(overview.money, money_charts, strict=True),
        "totals": [
            ("Coins purchased", overview.total("purchased")),
            ("Coins spent on calls", overview.total("calls_spent")),
            ("Coins spent on gifts", overview.total("gifts_spent")),
            ("Host earnings (coins)", overview.total("host_earnings")),
            ("Platform revenue (coins)", overview.total("platform_revenue")),
            ("Withdrawals paid (coins)", overview.total("withdrawals_paid")),
        ],
        "money_totals": overview.money_totals(),
    }
    return TemplateResponse(
        request, "admin/finance/dashboard.html", context, status=400 if error else 200
    )
