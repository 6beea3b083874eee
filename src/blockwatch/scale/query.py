"""What to fetch from OONI's archive, checked before any packet leaves, and where to find it.

A :class:`FetchQuery` is the filter vocabulary of every command (country, network, domain,
since, until) plus a test name. It picks the interface that fits: OONI's raw-data bucket
(``raw/YYYYMMDD/HH/CC/TESTNAME/*.jsonl.gz``, one folder per hour, country and test) for a
country over a time range, or OONI's API (one request per measurement) when a domain or a
network narrows the query to far fewer measurements than the bucket's folders hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from blockwatch.errors import FilterError
from blockwatch.times import parse_bound

__all__ = ["DEFAULT_TEST", "FetchQuery", "bucket_test_name", "hour_prefixes"]

DEFAULT_TEST: Final = "web_connectivity"
_COUNTRY = re.compile(r"[A-Z]{2}")
_TEST = re.compile(r"[a-z0-9_]{1,64}")
_ASN = re.compile(r"(?:AS)?([0-9]{1,10})", re.IGNORECASE)
_DOMAIN = re.compile(r"[A-Za-z0-9._-]{1,253}")
ONE_HOUR: Final = timedelta(hours=1)

Interface = Literal["bucket", "api"]


def bucket_test_name(test_name: str) -> str:
    """The bucket's folder name of a test: OONI drops the underscores (``webconnectivity``)."""
    return test_name.replace("_", "")


@dataclass(frozen=True)
class FetchQuery:
    """One country's measurements of one test in [since, until), maybe of one domain or
    network. Build it with :meth:`parse`, which names a bad value."""

    country: str
    since: datetime
    until: datetime
    test_name: str = DEFAULT_TEST
    domain: str | None = None
    asn: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        country: str,
        since: str,
        until: str,
        test_name: str | None = None,
        domain: str | None = None,
        asn: str | None = None,
    ) -> FetchQuery:
        """A query from what a person typed; FilterError names the bad value."""
        cc = country.strip().upper()
        if not _COUNTRY.fullmatch(cc) or cc in ("ZZ", "XX"):
            raise FilterError("country", f"{country!r} is not a two-letter country code")
        start, end = _bound("since", since), _bound("until", until)
        if start >= end:
            raise FilterError("until", f"must be after since ({since} .. {until} is inverted)")
        test = (test_name or DEFAULT_TEST).strip().lower()
        if not _TEST.fullmatch(test):
            raise FilterError("test", f"{test_name!r} is not an OONI test name")
        network = None
        if asn is not None and asn.strip():
            match = _ASN.fullmatch(asn.strip())
            if match is None:
                raise FilterError("asn", f"{asn!r} is not a network number like AS17557")
            network = f"AS{match.group(1)}"
        host = None
        if domain is not None and domain.strip():
            host = domain.strip().lower()
            if not _DOMAIN.fullmatch(host):
                raise FilterError("domain", f"{domain!r} is not a host name")
        return cls(cc, start, end, test, host, network)

    @property
    def interface(self) -> Interface:
        """The API for a domain or network (a few of each folder's measurements), else the
        bucket (every measurement of the country, file by file)."""
        return "api" if self.domain is not None or self.asn is not None else "bucket"

    def api_params(self, limit: int) -> dict[str, str]:
        """The query string of OONI's ``/api/v1/measurements`` for this query."""
        params = {
            "probe_cc": self.country,
            "test_name": self.test_name,
            "since": _api_time(self.since),
            "until": _api_time(self.until),
            "order_by": "measurement_start_time",
            "order": "asc",
            "limit": str(limit),
        }
        if self.domain is not None:
            params["domain"] = self.domain
        if self.asn is not None:
            params["probe_asn"] = self.asn
        return params


def _bound(name: str, value: str) -> datetime:
    try:
        return parse_bound(value)
    except ValueError as exc:
        raise FilterError(name, str(exc)) from exc


def _api_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def hour_prefixes(query: FetchQuery) -> Iterator[str]:
    """The bucket prefixes (``raw/YYYYMMDD/HH/CC/TEST/``) of every hour the range touches."""
    hour = query.since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    folder = bucket_test_name(query.test_name)
    while hour < query.until:
        yield f"raw/{hour:%Y%m%d}/{hour:%H}/{query.country}/{folder}/"
        hour += ONE_HOUR
