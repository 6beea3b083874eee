"""Query parameters shared by the pages and the API (the date-range filter, paging)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from blockwatch.web.filters import Filters
from blockwatch.web.queries import Queries

FromParam = Annotated[
    str | None,
    Query(alias="from", description="start of the range: YYYY-MM-DD or ISO 8601 time (UTC)"),
]
ToParam = Annotated[
    str | None, Query(description="end of the range, inclusive for a date: YYYY-MM-DD or ISO 8601")
]
BucketParam = Annotated[
    str | None, Query(description="timeline bucket: 1h, 6h, 1d or 7d (default: chosen by range)")
]
PageParam = Annotated[int, Query(ge=1, le=1_000_000, description="page of supporting measurements")]


def filters(from_: FromParam = None, to: ToParam = None) -> Filters:
    """The date-range filter (raises FilterError, shown as a 400)."""
    return Filters.parse(from_, to)


def queries(request: Request) -> Queries:
    q: Queries = request.app.state.queries
    return q
