"""`blockwatch fetch` against the loopback mimic of OONI's bucket and API: exactly what the
archive holds for a query, nothing twice, through 429s, 503s and dropped connections."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson
import pytest

from blockwatch.errors import FetchError, FilterError
from blockwatch.ooni.measurement import measurement_id
from blockwatch.scale import FetchQuery, RetryPolicy, fetch
from blockwatch.scale.query import hour_prefixes
from blockwatch.scale.testing import Faults, MimicRecord, OoniMimic
from blockwatch.store import Store
from scalehelpers import FEB_2024, store_contents

FAST = RetryPolicy(tries=4, backoff=0.01, connect_timeout=2, read_timeout=10)


def _ids(records: list[MimicRecord]) -> set[str]:
    return {measurement_id(orjson.loads(r.text)) for r in records}


def _stored_ids(db: Path) -> set[str]:
    return {row[0] for row in store_contents(db)["measurements"]}


def test_a_bucket_query_returns_exactly_what_the_archive_holds_despite_busy_and_dropped_answers(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    query = FetchQuery.parse(country="PK", since="2024-02-03", until="2024-02-10")
    with OoniMimic(archive_texts, faults=Faults(busy=2, drop=True)) as mimic:
        held = mimic.holds("PK", query.since, query.until)
        with Store(tmp_path / "bw.duckdb") as store:
            report = fetch(query, tmp_path / "out", store=store, bucket_url=mimic.url, retry=FAST)
    assert report.interface == "bucket"
    assert len(held) > 20
    assert report.downloaded == report.listed > 0
    assert report.retries > report.listed  # every URL was busy twice, every object dropped
    assert report.ingest is not None and report.ingest.malformed == 0
    assert _stored_ids(tmp_path / "bw.duckdb") == _ids(held)
    assert not list((tmp_path / "out").rglob("*.part"))


def test_a_domain_query_goes_through_the_api_pages_and_returns_exactly_its_measurements(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    with OoniMimic(archive_texts, faults=Faults(busy=1)) as mimic:
        domains = sorted({r.domain for r in mimic.holds("PK", *FEB_2024) if r.domain})
        domain = max(domains, key=lambda d: len(mimic.holds("PK", *FEB_2024, domain=d)))
        held = mimic.holds("PK", *FEB_2024, domain=domain)
        query = FetchQuery.parse(
            country="pk", since="2024-02-01", until="2024-03-01", domain=domain.upper()
        )
        with Store(tmp_path / "bw.duckdb") as store:
            report = fetch(query, tmp_path / "out", store=store, api_url=mimic.url, retry=FAST)
        pages = [p for p, status, _ in mimic.log if "/api/v1/measurements" in p and status == 200]
    assert report.interface == "api"
    assert len(held) > 5 and len(pages) > 1  # more than one page, followed by next_url
    assert _stored_ids(tmp_path / "bw.duckdb") == _ids(held)


def test_a_network_query_returns_only_that_networks_measurements(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    with OoniMimic(archive_texts) as mimic:
        held = mimic.holds("PK", *FEB_2024, asn="AS17557")
        query = FetchQuery.parse(country="PK", since="2024-02-01", until="2024-03-01", asn="17557")
        with Store(tmp_path / "bw.duckdb") as store:
            fetch(query, tmp_path / "out", store=store, api_url=mimic.url, retry=FAST)
    assert len(held) > 5
    assert _stored_ids(tmp_path / "bw.duckdb") == _ids(held)


def test_a_second_run_downloads_nothing_and_adds_nothing(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    query = FetchQuery.parse(country="PK", since="2024-02-01", until="2024-02-04")
    with OoniMimic(archive_texts) as mimic, Store(tmp_path / "bw.duckdb") as store:
        first = fetch(query, tmp_path / "out", store=store, bucket_url=mimic.url, retry=FAST)
        before = len(mimic.log)
        second = fetch(query, tmp_path / "out", store=store, bucket_url=mimic.url, retry=FAST)
        objects = [p for p, *_ in mimic.log[before:] if p.startswith("/raw/")]
    assert first.downloaded > 0
    assert objects == []
    assert (second.downloaded, second.cached) == (0, first.listed)
    assert second.ingest is not None and second.ingest.added == 0


def test_a_damaged_cache_file_is_downloaded_again(
    archive_texts: list[bytes], tmp_path: Path
) -> None:
    query = FetchQuery.parse(country="PK", since="2024-02-01", until="2024-02-03")
    with OoniMimic(archive_texts) as mimic:
        fetch(query, tmp_path / "out", bucket_url=mimic.url, retry=FAST)
        victim = sorted((tmp_path / "out").rglob("*.jsonl.gz"))[0]
        victim.write_bytes(victim.read_bytes()[:-7])
        again = fetch(query, tmp_path / "out", bucket_url=mimic.url, retry=FAST)
        key = victim.relative_to(tmp_path / "out").as_posix()
        assert victim.read_bytes() == mimic.objects[key]
    assert again.downloaded == 1


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"country": "Pakistan"}, "country"),
        ({"country": "P1"}, "country"),
        ({"since": "2024-03-01", "until": "2024-02-01"}, "until"),
        ({"since": "2024-02-30"}, "since"),
        ({"asn": "ASX"}, "asn"),
        ({"test_name": "web connectivity"}, "test"),
    ],
)
def test_a_bad_query_is_refused_naming_the_value(values: dict[str, str], name: str) -> None:
    args = {"country": "PK", "since": "2024-02-01", "until": "2024-03-01", **values}
    with pytest.raises(FilterError) as err:
        FetchQuery.parse(**args)
    assert err.value.name == name


def test_the_bucket_folders_of_a_query_are_its_hours_with_the_test_name_without_underscore() -> (
    None
):
    query = FetchQuery.parse(country="pk", since="2024-02-01T22:30:00Z", until="2024-02-02T01:00")
    assert list(hour_prefixes(query)) == [
        "raw/20240201/22/PK/webconnectivity/",
        "raw/20240201/23/PK/webconnectivity/",
        "raw/20240202/00/PK/webconnectivity/",
    ]


def test_an_unreachable_service_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    query = FetchQuery.parse(country="PK", since="2024-02-01", until="2024-02-01T02:00")
    with pytest.raises(FetchError) as err:
        fetch(query, tmp_path, bucket_url=f"http://127.0.0.1:{port}", retry=FAST)
    assert f"127.0.0.1:{port}" in str(err.value) and "cannot connect" in str(err.value)
