"""Verdict counts kept beside the verdicts, so the dashboard's tables need not scan them.

Two tables hold the count of verdicts per (country, network, domain, outcome, method), with
the first and last measurement time of each group: ``verdict_days`` per UTC day, and
``verdict_totals`` over all time. They are exact, not estimates, kept in the transaction of
every write of verdicts: a batch whose verdicts all went in appends its own rows beside its
groups' (:func:`add`; readers sum a group's rows, :func:`compact` folds them); any other
write that adds, replaces or removes verdicts (a batch that met stored ones,
``add_verdicts``, re-analysis) calls :func:`refresh` with the rows it touched, and their
groups are counted again from the verdicts (a duplicate, a replaced verdict or a moved
outcome cannot drift them). A store of an older schema, or one whose verdicts were written
around the Store (plain SQL: the counts no longer add up to the verdicts), has them rebuilt
on its next writable open; a read-only open of such a store reads the verdicts instead
(:meth:`Store.counts_ready`).

:func:`source` is the one read side: a subquery of grouped rows (the group's columns, ``n``,
``first``, ``last``, and ``day`` when asked) for a filter. Without a time range it reads the
totals; with one, the days wholly inside the range from ``verdict_days`` and the partial days
at its ends from the verdicts themselves, so any range is exact.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

import duckdb

from blockwatch.store import schema
from blockwatch.store.filters import Filter, verdict_where
from blockwatch.times import naive_utc

__all__ = [
    "DAYS",
    "GROUP",
    "TABLES",
    "TOTALS",
    "add",
    "before_change",
    "compact",
    "day_aligned",
    "days_pay",
    "ready",
    "rebuild",
    "refresh",
    "rows",
    "source",
    "verdict_rows",
]

DAYS, TOTALS = schema.TABLES_ADDED_V5
TABLES: Final = schema.TABLES_ADDED_V5
GROUP: Final = schema.COUNT_GROUP
_KEYS: Final = ", ".join(GROUP)
_TOUCHED: Final = "_bw_counts_touched"
_BEFORE: Final = "_bw_counts_before"
_MERGED: Final = "_bw_counts_merged"
_WHERE_COUNTED: Final = "measured_at, probe_cc, probe_asn, domain"
_ONE_DAY: Final = timedelta(days=1)
# What a group counts, from verdicts: the same in the rebuild, the refresh and the edges.
_COUNTED: Final = "count(*) AS n, min(measured_at) AS first, max(measured_at) AS last"
_DAY: Final = "CAST(measured_at AS DATE) AS day"


def rebuild(con: duckdb.DuckDBPyConnection) -> None:
    """Count every verdict again (a new or upgraded store; one written around the Store)."""
    con.execute(f"DELETE FROM {DAYS}")
    con.execute(f"DELETE FROM {TOTALS}")
    # In the order pages read them (a country's, a network's, a domain's days together), so
    # DuckDB skips the row groups of the others; rows counted again later come at the end.
    con.execute(
        f"INSERT INTO {DAYS} SELECT {_DAY}, {_KEYS}, {_COUNTED} FROM verdicts GROUP BY ALL"
        " ORDER BY probe_cc, probe_asn, domain, day"
    )
    con.execute(f"INSERT INTO {TOTALS} {_totals_of(DAYS, '')} ORDER BY probe_cc, probe_asn, domain")


def ready(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the counts add up to the verdicts (both tables there, same number of rows
    counted): false for a store of an older schema or one written around the Store."""
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if not set(TABLES) <= present:
        return False
    row = con.execute(
        f"SELECT (SELECT count(*) FROM verdicts), (SELECT coalesce(sum(n), 0) FROM {TOTALS}),"
        f" (SELECT coalesce(sum(n), 0) FROM {DAYS})"
    ).fetchone()
    return row is not None and row[0] == row[1] == row[2]


def days_pay(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the daily counts are worth reading for a time range: at most half as many rows
    as the verdicts. Where most (network, domain) pairs are measured less than daily, they are
    not, and a scan of the verdicts themselves is cheaper than theirs plus the edge days."""
    row = con.execute(f"SELECT (SELECT count(*) FROM {DAYS}), (SELECT count(*) FROM verdicts)")
    days, verdicts = row.fetchall()[0]
    return bool(days * 2 <= verdicts)


def _same(a: str, b: str, columns: tuple[str, ...]) -> str:
    # NULL is a value here (a verdict without a method, a measurement without a domain).
    return " AND ".join(f"{a}.{c} IS NOT DISTINCT FROM {b}.{c}" for c in columns)


def _totals_of(days: str, where: str) -> str:
    return (
        f"SELECT {_KEYS}, sum(n)::BIGINT AS n, min(first) AS first, max(last) AS last"
        f" FROM {days}{where} GROUP BY ALL"
    )


def add(con: duckdb.DuckDBPyConnection, added: str) -> dict[str, int]:
    """Add the verdicts of ``added`` (a query giving measured_at, probe_cc, probe_asn, domain,
    outcome and method of verdicts just inserted, none of them replacing one) to the counts,
    as rows of their own beside the groups' earlier rows: readers sum a group's rows anyway,
    and the collector's commits, a few measurements each, must stay cheap (merging them cost
    three times the commit). :func:`compact` folds the rows together again. Returns the rows
    added to each table, by name. Run it in the writing transaction."""
    days = con.execute(
        f"INSERT INTO {DAYS} SELECT {_DAY}, {_KEYS}, {_COUNTED} FROM ({added}) GROUP BY ALL"
    ).fetchall()
    totals = con.execute(
        f"INSERT INTO {TOTALS} SELECT {_KEYS}, {_COUNTED} FROM ({added}) GROUP BY ALL"
    ).fetchall()
    return {DAYS: int(days[0][0]), TOTALS: int(totals[0][0])}


def compact(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] = TABLES) -> dict[str, int]:
    """One row per group again in ``tables`` (see :func:`add`); returns their rows, by name.
    Each table is folded on its own: the totals (a row per group) are cheap to fold and read
    on every page, the days (a row per group and day) cost the most to fold."""
    folded = {}
    for table in tables:
        cols = ", ".join(("day", *GROUP) if table == DAYS else GROUP)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_MERGED} AS SELECT {cols}, sum(n)::BIGINT AS n,"
            f" min(first) AS first, max(last) AS last FROM {table} GROUP BY ALL"
            f" ORDER BY probe_cc, probe_asn, domain"
        )
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} ({cols}, n, first, last) SELECT * FROM {_MERGED}")
        con.execute(f"DROP TABLE {_MERGED}")
        folded[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
    return folded


def rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The rows of each counts table, by name."""
    return {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in TABLES}


def before_change(con: duckdb.DuckDBPyConnection, ids: str, params: list[Any]) -> None:
    """Remember where the verdicts of the measurements ``ids`` (a query) are counted, before
    they are replaced or removed: the next :func:`refresh` on ``con`` counts those groups
    again too (a new verdict may land in another group, or none)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_BEFORE} AS SELECT {_WHERE_COUNTED} FROM verdicts"
        f" WHERE measurement_id IN ({ids})",
        params,
    )


def refresh(con: duckdb.DuckDBPyConnection, touched: str, params: list[Any] | None = None) -> None:
    """Count again every group that the rows of ``touched`` (a query giving measured_at,
    probe_cc, probe_asn and domain of each verdict added or replaced) fall in, and those
    remembered by :func:`before_change`. Run it in the writing transaction, after the change."""
    series = ("probe_cc", "probe_asn", "domain")
    before = bool(
        con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = ?", [_BEFORE]
        ).fetchall()
    )
    rows = f"SELECT {_WHERE_COUNTED} FROM ({touched})"
    if before:
        rows += f" UNION ALL SELECT {_WHERE_COUNTED} FROM {_BEFORE}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_TOUCHED} AS SELECT DISTINCT {_DAY},"
        f" probe_cc, probe_asn, domain FROM ({rows})",
        params or [],
    )
    if before:
        con.execute(f"DROP TABLE {_BEFORE}")
    in_touched = f"EXISTS (SELECT 1 FROM {_TOUCHED} t WHERE {{}})"
    con.execute(
        f"DELETE FROM {DAYS} d WHERE {in_touched.format(_same('t', 'd', ('day', *series)))}"
    )
    con.execute(
        f"INSERT INTO {DAYS} SELECT {_DAY}, {_KEYS}, {_COUNTED} FROM verdicts v WHERE"
        f" {_window(con)} AND "
        + in_touched.format(f"t.day = CAST(v.measured_at AS DATE) AND {_same('t', 'v', series)}")
        + " GROUP BY ALL"
    )
    con.execute(f"DELETE FROM {TOTALS} s WHERE {in_touched.format(_same('t', 's', series))}")
    again = " WHERE " + in_touched.format(_same("t", "d", series))
    con.execute(f"INSERT INTO {TOTALS} {_totals_of(DAYS + ' d', again)}")
    con.execute(f"DROP TABLE {_TOUCHED}")


def _window(con: duckdb.DuckDBPyConnection) -> str:
    """A condition bounding the verdict scan to the touched days (DuckDB then skips the row
    groups outside them); none when a day is not an ordinary date (DuckDB's infinities, years
    Python cannot hold)."""
    lo, hi, ordinary = con.execute(
        f"SELECT min(day)::VARCHAR, max(day)::VARCHAR,"
        f" bool_and(isfinite(day) AND year(day) BETWEEN 2 AND 9998) FROM {_TOUCHED}"
    ).fetchall()[0]
    if lo is None:
        return "false"
    if not ordinary:
        return "true"
    start = date.fromisoformat(lo)
    end = date.fromisoformat(hi) + _ONE_DAY
    return f"measured_at >= DATE '{start.isoformat()}' AND measured_at < DATE '{end.isoformat()}'"


def day_aligned(bucket: timedelta) -> bool:
    """Whether a timeline bucket is whole days (its edges are midnights: a day's counts fall
    in one bucket), so the daily counts can draw it."""
    return bucket >= _ONE_DAY and bucket % _ONE_DAY == timedelta(0)


def _ceil_day(t: datetime) -> date:
    d = t.date()
    return d if t == datetime.combine(d, datetime.min.time()) else d + _ONE_DAY


def source(f: Filter, *, with_day: bool = False) -> tuple[str, list[Any]]:
    """(a subquery, its parameters) of verdict counts selected by ``f``: the GROUP columns,
    n, first, last (and day, with ``with_day``); a group a row from the kept counts, a
    verdict a row (n 1) from the verdicts of partial days. Read over a store whose counts are
    ready (:func:`ready`); consumers aggregate the rows again (sum(n), min(first), ...)."""
    where, params = verdict_where(f.replace(since=None, until=None))
    day = "day, " if with_day else ""
    cols = f"{day}{_KEYS}, n, first, last"
    if f.since is None and f.until is None:
        return f"SELECT {cols} FROM {DAYS if with_day else TOTALS}{where}", params
    since = naive_utc(f.since) if f.since is not None else None
    until = naive_utc(f.until) if f.until is not None else None
    try:
        first_day = _ceil_day(since) if since is not None else None
    except OverflowError:  # since in the calendar's last day: no whole day inside
        return _verdict_groups(f, with_day)
    last_day = until.date() if until is not None else None  # days before it are whole
    days_where, days_params = where, list(params)
    edges: list[str] = []
    edge_params: list[Any] = []
    for clause, value, edge in (
        ("day >= ?", first_day, "measured_at < ?"),
        ("day < ?", last_day, "measured_at >= ?"),
    ):
        if value is not None:
            days_where = f"{days_where} AND {clause}" if days_where else f" WHERE {clause}"
            days_params.append(value)
            edges.append(edge)
            edge_params.append(datetime.combine(value, datetime.min.time()))
    edge_sql, edge_all = _verdict_groups(f, with_day)
    edge_sql += f" AND ({' OR '.join(edges)})"
    return (
        f"SELECT {cols} FROM {DAYS}{days_where} UNION ALL {edge_sql}",
        [*days_params, *edge_all, *edge_params],
    )


def _verdict_groups(f: Filter, with_day: bool) -> tuple[str, list[Any]]:
    """The same kind of rows as :func:`source`, from the verdicts: one row per verdict (n 1;
    cheaper than grouping them first, as every consumer groups them anyway). A filter with a
    time bound always has a WHERE clause here, which :func:`source` extends."""
    where, params = verdict_where(f)
    return f"SELECT {verdict_rows(with_day)} FROM verdicts{where or ' WHERE true'}", params


def verdict_rows(with_day: bool = False) -> str:
    """The SELECT list giving verdicts as :func:`source`'s rows, a verdict each."""
    day = f"{_DAY}, " if with_day else ""
    return f"{day}{_KEYS}, 1 AS n, measured_at AS first, measured_at AS last"
