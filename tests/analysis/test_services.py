"""Services: the shipped table, domain matching, service-level events and their sentence."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from blockwatch.analysis.records import Event, NetworkSpan
from blockwatch.analysis.services import ServiceTable, sentence, service_events
from blockwatch.errors import InputError

T0 = datetime(2024, 2, 17, 12, tzinfo=UTC)
T1 = datetime(2024, 3, 20, tzinfo=UTC)
T2 = datetime(2024, 4, 1, tzinfo=UTC)
NAMES = {"AS17557": "PTCL", "AS9541": "Cybernet", "AS135407": "AS135407"}


def country_event(domain: str, spans: list[NetworkSpan], eid: str = "") -> Event:
    ends = [s.end for s in spans]
    return Event(
        eid or f"ev-{domain}",
        "censorship",
        "PK",
        None,
        domain,
        min(s.start for s in spans),
        None if None in ends else max(e for e in ends if e is not None),
        ("tls.reset",),
        0.1,
        0.9,
        ("m1",),
        tuple(spans),
    )


@pytest.mark.parametrize(
    ("domain", "service"),
    [
        ("x.com", "X"),
        ("twitter.com", "X"),
        ("t.co", "X"),
        ("api.twitter.com", "X"),
        ("pbs.twimg.com", "X"),
        ("video.twimg.com", "X"),
        ("www.facebook.com", "Facebook"),
        ("web.whatsapp.com", "WhatsApp"),
        ("telegram.org", "Telegram"),
        ("nordvpn.com", "NordVPN"),
        ("www.torproject.org", "Tor Project"),
        ("dawn.com", None),
        ("nottwimg.com", None),
        ("x.com.evil.example", None),
    ],
)
def test_the_shipped_table_names_the_service_of_a_domain(domain: str, service: str | None) -> None:
    found = ServiceTable.load().of(domain)
    assert (found.name if found else None) == service


def test_a_search_finds_a_service_by_name_in_any_case_or_by_one_of_its_domains() -> None:
    table = ServiceTable.load()
    assert [s.name for s in table.find("x")] == ["X"]
    assert [s.name for s in table.find("twitter.com")] == ["X"]
    assert [s.name for s in table.find("whatsapp")] == ["WhatsApp"]
    assert table.find("no-such-service") == []


def test_a_national_block_on_every_network_is_one_sentence_naming_the_networks() -> None:
    events = [
        country_event(
            "x.com",
            [
                NetworkSpan("AS17557", T0, None, 0.1),
                NetworkSpan("AS9541", T0, None, 0.05),
                NetworkSpan("AS135407", T0, None, 0.3),
            ],
        ),
        country_event("pbs.twimg.com", [NetworkSpan("AS17557", T0, None, 0.0)]),
        country_event("dawn.com", [NetworkSpan("AS17557", T0, None, 0.0)]),
    ]
    [x] = service_events(events, ServiceTable.load())
    assert x.service == "X" and x.ongoing and x.intermittent
    assert x.domains == ("x.com", "pbs.twimg.com")  # the service's main name first
    assert sentence(x, 3, NAMES) == (
        "X in PK: blocked on 3 of 3 networks (AS135407, Cybernet and PTCL) since 2024-02-17,"
        " intermittently."
    )


def test_networks_where_the_block_ended_are_not_counted_as_blocked_now() -> None:
    events = [
        country_event(
            "x.com",
            [NetworkSpan("AS17557", T0, None, 0.0), NetworkSpan("AS9541", T0, T2, 0.0)],
        ),
        country_event("t.co", [NetworkSpan("AS135407", T0, T1, 0.0)]),
    ]
    [x] = service_events(events, ServiceTable.load())
    assert x.networks == ("AS17557",)
    assert x.all_networks == ("AS135407", "AS17557", "AS9541")
    assert sentence(x, 3, NAMES) == (
        "X in PK: blocked on 1 of 3 networks (PTCL) since 2024-02-17;"
        " at its widest on 3 (AS135407, Cybernet and PTCL)."
    )


def test_an_ended_block_is_told_in_the_past_with_its_dates_and_only_the_latest_episode() -> None:
    early = datetime(2024, 2, 10, 6, tzinfo=UTC)
    events = [
        country_event("x.com", [NetworkSpan("AS17557", early, early, 0.0)], "ev-early"),
        country_event("twitter.com", [NetworkSpan("AS9541", T0, T1, 0.2)], "ev-late"),
    ]
    [x] = service_events(events, ServiceTable.load())
    assert x.event_ids == ("ev-late",)
    assert sentence(x, 0, NAMES) == (
        "X in PK: was blocked on 1 network (Cybernet) from 2024-02-17 to 2024-03-20,"
        " intermittently."
    )


def test_outages_and_network_events_inside_a_country_event_are_not_service_events() -> None:
    outage = Event("o", "outage", "PK", "AS9541", None, T0, None, (), 0.0, 0.9, ())
    child = Event("c", "censorship", "PK", "AS9541", "x.com", T0, None, (), 0.0, 0.9, (), (), "p")
    assert service_events([outage, child], ServiceTable.load()) == []


def test_a_services_file_overrides_the_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "services.toml"
    path.write_text('[[service]]\nname = "Dawn"\nkind = "news"\ndomains = ["dawn.com"]\n')
    table = ServiceTable.load(path)
    assert [s.name for s in table.services] == ["Dawn"]
    assert table.of("www.dawn.com") is not None and table.of("x.com") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[service]]\nname = 'X'\n", "needs a list of domains"),
        ("[[service]]\ndomains = ['x.com']\n", "service #1 has no name"),
        ("[[service]\n", "cannot read services"),
    ],
)
def test_a_bad_services_file_is_an_error_naming_the_file_and_entry(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=reason) as err:
        ServiceTable.load(path)
    assert str(path) in str(err.value)
