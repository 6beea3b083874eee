"""What the services answer is untrusted: the listing parsers take S3's and OONI's documented
pages and refuse what could send the fetcher astray."""

from __future__ import annotations

import pytest

from blockwatch.errors import FetchError
from blockwatch.scale.listing import BucketObject, list_api, parse_api_page, parse_bucket_page
from blockwatch.scale.query import FetchQuery

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
KEY = "raw/20240201/00/PK/webconnectivity/2024020100_PK_webconnectivity.n1.0.jsonl.gz"


def _page(contents: str, truncated: str = "false", token: str = "", ns: str = NS) -> bytes:
    more = f"<NextContinuationToken>{token}</NextContinuationToken>" if token else ""
    return (
        f"<ListBucketResult {ns}><Name>ooni-data-eu-fra</Name><IsTruncated>{truncated}"
        f"</IsTruncated>{more}{contents}</ListBucketResult>"
    ).encode()


def _entry(key: str, size: str = "1234", etag: str = '"0123456789abcdef0123456789abcdef"') -> str:
    return f"<Contents><Key>{key}</Key><Size>{size}</Size><ETag>{etag}</ETag></Contents>"


def test_a_bucket_page_gives_its_objects_and_its_continuation_token() -> None:
    body = _page(_entry(KEY) + _entry(KEY.replace("n1.0", "n1.1")), "true", "tok/en+1")
    objects, token = parse_bucket_page(body, "u")
    assert objects[0] == BucketObject(KEY, 1234, '"0123456789abcdef0123456789abcdef"')
    assert len(objects) == 2 and token == "tok/en+1"


def test_a_bucket_page_without_the_s3_namespace_reads_the_same() -> None:
    objects, token = parse_bucket_page(_page(_entry(KEY), ns=""), "u")
    assert [o.key for o in objects] == [KEY] and token is None


def test_files_other_than_measurements_are_left_out() -> None:
    objects, _ = parse_bucket_page(_page(_entry(KEY.replace(".jsonl.gz", ".tar.gz"))), "u")
    assert objects == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_page(_entry("raw/../../etc/x.jsonl.gz")), "unexpected key"),
        (_page(_entry("/tmp/x.jsonl.gz")), "unexpected key"),
        (_page(_entry(KEY, size="-1")), "without a Key or a Size"),
        (_page("", truncated="true"), "no continuation token"),
        (b"<html>rate limited</html", "not XML"),
    ],
)
def test_a_bad_bucket_page_is_refused_naming_why(body: bytes, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        parse_bucket_page(body, "http://bucket/")


def test_an_api_page_gives_its_measurements_and_next_url() -> None:
    body = (
        b'{"metadata": {"count": 7, "next_url": "http://api/api/v1/measurements?offset=5"},'
        b' "results": [{"measurement_uid": "20240201000005.000001_PK_webconnectivity_ab",'
        b' "measurement_start_time": "2024-02-01T00:00:05Z"}]}'
    )
    items, next_url = parse_api_page(body, "u")
    assert [i.measurement_uid for i in items] == ["20240201000005.000001_PK_webconnectivity_ab"]
    assert next_url == "http://api/api/v1/measurements?offset=5"


@pytest.mark.parametrize(
    "body",
    [
        b'{"metadata": {}, "results": [{"measurement_uid": "../../etc/passwd"}]}',
        b'{"metadata": {}, "results": [{"measurement_uid": 5}]}',
        b'{"metadata": {}}',
        b"not json",
    ],
)
def test_a_bad_api_page_is_refused(body: bytes) -> None:
    with pytest.raises(FetchError):
        parse_api_page(body, "u")


class _Pages:
    """A client answering each GET with the next canned page."""

    def __init__(self, *pages: bytes) -> None:
        self.pages = list(pages)
        self.urls: list[str] = []

    def get(self, url: str, params: dict[str, str] | None = None) -> bytes:
        self.urls.append(url)
        return self.pages.pop(0)


def test_a_next_url_leaving_the_api_is_refused() -> None:
    query = FetchQuery.parse(country="PK", since="2024-02-01", until="2024-02-02", domain="x.com")
    client = _Pages(b'{"metadata": {"next_url": "http://elsewhere.example/steal"}, "results": []}')
    with pytest.raises(FetchError, match="leaves the API"):
        list(list_api(client, "http://api.test", query))  # type: ignore[arg-type]
    assert client.urls == ["http://api.test/api/v1/measurements"]
