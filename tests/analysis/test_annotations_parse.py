"""Annotations from files: OONI's findings format and our TOML; bad entries are named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from blockwatch.analysis.annotations import from_findings, from_toml, load
from blockwatch.errors import InputError

REPO = Path(__file__).resolve().parents[2]
PK_ANNOTATIONS = REPO / "scenarios" / "pk-2024-x.annotations.toml"


def test_a_toml_annotation_has_its_date_country_domains_and_a_stable_id() -> None:
    text = """
[[annotation]]
date = 2024-02-22
country = "pk"
domains = ["X.com", "twitter.com."]
title = "Sindh High Court orders X restored"
url = "https://example.org/order"
"""
    [a] = from_toml(text, "t.toml")
    assert a.start == datetime(2024, 2, 22, tzinfo=UTC) and a.end is None
    assert a.probe_cc == "PK" and a.domains == ("twitter.com", "x.com")
    assert a.url == "https://example.org/order" and a.source == "toml"
    assert from_toml(text, "again.toml")[0].annotation_id == a.annotation_id


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ('title = "no date"', "annotation #1: no date"),
        ("date = 2024-02-22", "annotation #1: no title"),
        ('date = "yesterday"\ntitle = "t"', "is not a date"),
        ('date = 2024-02-22\ntitle = "t"\ncountry = "Pakistan"', "not a two-letter code"),
        ('date = 2024-02-22\nend = 2024-02-01\ntitle = "t"', "ends before it starts"),
        ('date = 2024-02-22\ntitle = "t"\nurl = "javascript:alert(1)"', "url must be http"),
        ('date = 2024-02-22\ntitle = "t"\ndomains = "x.com"', "domains must be a list"),
    ],
)
def test_a_bad_toml_entry_is_an_error_naming_the_file_and_entry(entry: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as err:
        from_toml(f"[[annotation]]\n{entry}\n", "bad.toml")
    assert "bad.toml" in str(err.value)


def test_an_ooni_finding_about_two_countries_is_one_annotation_per_country() -> None:
    doc = {
        "incidents": [
            {
                "id": "42",
                "title": "Twitter blocked",
                "short_description": "OONI data on it.",
                "start_time": "2024-02-17T00:00:00.000000Z",
                "end_time": "2025-05-06T00:00:00.000000Z",
                "CCs": ["PK", "TR"],
                "domains": ["twitter.com", "x.com"],
                "links": ["https://example.org/finding"],
                "published": True,
            },
            {"id": "43", "title": "draft", "start_time": "2024-01-01", "published": False},
        ]
    }
    found = from_findings(orjson.dumps(doc), "incidents.json")
    assert [(a.annotation_id, a.probe_cc) for a in found] == [
        ("ooni-42-PK", "PK"),
        ("ooni-42-TR", "TR"),
    ]
    assert found[0].end == datetime(2025, 5, 6, tzinfo=UTC)
    assert found[0].text == "OONI data on it." and found[0].url == "https://example.org/finding"


def test_a_finding_that_is_not_an_object_is_named() -> None:
    with pytest.raises(InputError, match="finding #2 is not an object"):
        from_findings(
            b'{"incidents": [{"id": "1", "title": "t", "start_time": "2024-01-01"}, 3]}', "f.json"
        )


def test_ooni_s_published_findings_hold_pakistan_s_block_of_x(shared_data: Path) -> None:
    path = shared_data / "ooni" / "labels" / "incidents.json"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    found = load(path)
    pk_x = [a for a in found if a.probe_cc == "PK" and "x.com" in a.domains]
    assert pk_x and pk_x[0].start == datetime(2024, 2, 17, tzinfo=UTC)
    assert pk_x[0].end == datetime(2025, 5, 6, tzinfo=UTC)


def test_the_pk_2024_x_scenario_ships_the_dates_of_its_real_case() -> None:
    found = load(PK_ANNOTATIONS)
    dates = {a.start.date().isoformat(): a for a in found}
    for day in ("2024-02-08", "2024-02-10", "2024-02-17", "2024-02-18", "2024-02-22", "2025-05-07"):
        assert day in dates, day
    assert "Sindh High Court" in dates["2024-02-22"].title
    assert "x.com" in dates["2024-02-17"].domains and dates["2024-02-08"].domains == ()


def test_a_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("2024-02-22 court order")
    with pytest.raises(InputError, match=r"\.json\) or annotations \(\.toml"):
        load(path)
