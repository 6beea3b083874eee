"""Reading the two services' listings: S3 ListObjectsV2 pages and OONI API measurement pages.

Parsing is pure (bytes in, records out); :func:`list_bucket` and :func:`list_api` page through
a service with an :class:`~blockwatch.scale.http.HttpClient`. Everything a service answers is
untrusted: keys and ids are checked before they name a local file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import orjson

from blockwatch.errors import FetchError
from blockwatch.scale.http import HttpClient
from blockwatch.scale.query import FetchQuery

__all__ = [
    "ApiItem",
    "BucketObject",
    "api_raw_url",
    "list_api",
    "list_bucket",
    "parse_api_page",
    "parse_bucket_page",
]

_S3_NS: Final = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_SAFE_KEY: Final = re.compile(r"raw/[0-9]{8}/[0-9]{2}/[A-Z]{2}/[a-z0-9]+/[A-Za-z0-9._-]+")
_SAFE_UID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
API_PAGE: Final = 1000
MAX_PAGES: Final = 100_000  # a loop guard: a service whose next page never ends


@dataclass(frozen=True)
class BucketObject:
    """One file of the raw-data bucket, as its listing describes it."""

    key: str
    size: int
    etag: str | None


@dataclass(frozen=True)
class ApiItem:
    """One measurement of an API listing page."""

    measurement_uid: str
    measurement_start_time: str


def _text(node: ET.Element, name: str) -> str | None:
    child = node.find(_S3_NS + name)
    if child is None:
        child = node.find(name)  # some S3 servers answer without the namespace
    return child.text if child is not None else None


def parse_bucket_page(body: bytes, url: str) -> tuple[list[BucketObject], str | None]:
    """The objects of one ListObjectsV2 page and its NextContinuationToken (None: last page).
    Keys outside the raw layout (or that could escape the cache folder) are refused."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise FetchError(url, f"listing is not XML: {exc}") from exc
    objects = []
    for node in [*root.findall(_S3_NS + "Contents"), *root.findall("Contents")]:
        key, size = _text(node, "Key"), _text(node, "Size")
        if key is None or size is None or not size.isdigit():
            raise FetchError(url, "listing entry without a Key or a Size")
        if not key.endswith(".jsonl.gz"):
            continue  # the bucket holds other files beside the measurements
        if not _SAFE_KEY.fullmatch(key) or ".." in key:
            raise FetchError(url, f"listing holds an unexpected key {key[:120]!r}")
        objects.append(BucketObject(key, int(size), _text(node, "ETag")))
    truncated = (_text(root, "IsTruncated") or "false").strip().lower() == "true"
    token = _text(root, "NextContinuationToken") if truncated else None
    if truncated and not token:
        raise FetchError(url, "listing is truncated but gives no continuation token")
    return objects, token


def list_bucket(client: HttpClient, bucket_url: str, prefix: str) -> list[BucketObject]:
    """Every object under ``prefix``, page after page."""
    url = bucket_url.rstrip("/") + "/"
    params = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
    found: list[BucketObject] = []
    for _ in range(MAX_PAGES):
        objects, token = parse_bucket_page(client.get(url, params), url)
        found.extend(objects)
        if token is None:
            return found
        params["continuation-token"] = token
    raise FetchError(url, f"listing of {prefix} did not end after {MAX_PAGES} pages")


def parse_api_page(body: bytes, url: str) -> tuple[list[ApiItem], str | None]:
    """The measurements of one ``/api/v1/measurements`` page and its ``next_url``."""
    try:
        page: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FetchError(url, f"answer is not JSON: {exc}") from exc
    if not isinstance(page, dict) or not isinstance(page.get("results"), list):
        raise FetchError(url, "answer has no results list")
    items = []
    for result in page["results"]:
        uid = result.get("measurement_uid") if isinstance(result, dict) else None
        if not isinstance(uid, str) or not _SAFE_UID.fullmatch(uid) or uid.startswith("."):
            raise FetchError(url, f"result without a usable measurement_uid: {str(result)[:120]}")
        start = result.get("measurement_start_time")
        items.append(ApiItem(uid, start if isinstance(start, str) else ""))
    metadata = page.get("metadata")
    next_url = metadata.get("next_url") if isinstance(metadata, dict) else None
    return items, next_url if isinstance(next_url, str) and next_url else None


def list_api(client: HttpClient, api_url: str, query: FetchQuery) -> Iterator[ApiItem]:
    """Every measurement the API lists for ``query``, following ``next_url``. A next_url
    pointing off the API's own origin is refused (we talk to the service we were given)."""
    base = api_url.rstrip("/")
    url: str | None = f"{base}/api/v1/measurements"
    params: dict[str, str] | None = query.api_params(API_PAGE)
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        if url is None:
            return
        items, next_url = parse_api_page(client.get(url, params), url)
        for item in items:
            if item.measurement_uid not in seen:  # offset paging can repeat a row
                seen.add(item.measurement_uid)
                yield item
        if next_url is not None and not next_url.startswith(base + "/"):
            raise FetchError(next_url, f"next_url leaves the API at {base}")
        url, params = next_url, None
    raise FetchError(base, f"listing did not end after {MAX_PAGES} pages")


def api_raw_url(api_url: str, measurement_uid: str) -> str:
    return f"{api_url.rstrip('/')}/api/v1/raw_measurement?measurement_uid={quote(measurement_uid)}"
