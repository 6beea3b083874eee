"""Query parameters shared by the pages and the API: the one filter vocabulary, and paging.

``country, asn, domain, since, until`` mean what they mean on the command line (see
blockwatch.store.filters). The dashboard's older spellings still work, so links made before
do not break: ``cc`` for country, ``from`` for since, and ``to``, where a date includes that
whole day. Routes whose path names a country, network or domain take only the time range.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from blockwatch.store import Filter, Reads

__all__ = ["BucketParam", "PageParam", "filters", "reads", "time_range"]

_TIME = "a date YYYY-MM-DD (its midnight, UTC) or an ISO 8601 time"
Since = Annotated[str | None, Query(description=f"from this time, inclusive: {_TIME}")]
Until = Annotated[str | None, Query(description=f"before this time, exclusive: {_TIME}")]
From = Annotated[
    str | None, Query(alias="from", deprecated=True, description="older spelling of since")
]
To = Annotated[
    str | None,
    Query(deprecated=True, description="older upper bound: a date includes that whole day"),
]
Country = Annotated[str | None, Query(description="probe country code, e.g. PK")]
Cc = Annotated[str | None, Query(deprecated=True, description="older spelling of country")]
Asn = Annotated[str | None, Query(description="probe network, e.g. AS17557")]
Domain = Annotated[str | None, Query(description="target host name, e.g. x.com")]
BucketParam = Annotated[
    str | None, Query(description="timeline bucket: 1h, 6h, 1d or 7d (default: chosen by range)")
]
PageParam = Annotated[int, Query(ge=1, le=1_000_000, description="page of supporting measurements")]


def time_range(
    since: Since = None, until: Until = None, from_: From = None, to: To = None
) -> Filter:
    """The time range alone (raises FilterError, shown as a 400)."""
    return Filter.parse(since=since or from_, until=until, to=to)


def filters(
    country: Country = None,
    asn: Asn = None,
    domain: Domain = None,
    since: Since = None,
    until: Until = None,
    cc: Cc = None,
    from_: From = None,
    to: To = None,
) -> Filter:
    """The whole filter (raises FilterError, shown as a 400)."""
    return Filter.parse(
        country=country or cc, asn=asn, domain=domain, since=since or from_, until=until, to=to
    )


def reads(request: Request) -> Reads:
    r: Reads = request.app.state.reads
    return r
