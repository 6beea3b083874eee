"""ASN databases (iptoasn.com's TSV, a MaxMind ASN .mmdb) name the networks no measurement
names, on the pages, in the report and on a trace's hop; a measurement's own name wins."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from blockwatch.asn_names import MmdbAsn, TsvAsn, asn_number, open_asn_db
from blockwatch.errors import InputError
from blockwatch.probe.testing.mmdb import write_asn_db

TSV = (
    "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n"
    "1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n"
    "39.32.0.0\t39.63.255.255\t17557\tPK\tPKTELECOM-AS-PK Pakistan Telecommunication\n"
    "this line is broken\n"
    "10.66.0.0\t10.66.255.255\t64510\tZZ\tLAB-TRANSIT\n"
    "202.0.0.0\t201.0.0.0\t9541\tPK\tbackwards\n"
    "2400:adc0::\t2400:adc0:ffff:ffff:ffff:ffff:ffff:ffff\t9541\tPK\tCYBERNET-AP Cyber Internet\n"
)


def write_tsv(path: Path, gz: bool = False) -> Path:
    data = TSV.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_the_iptoasn_tsv_gives_an_address_its_as_and_an_as_its_name(
    tmp_path: Path, gz: bool
) -> None:
    db = open_asn_db(write_tsv(tmp_path / ("ip2asn.tsv.gz" if gz else "ip2asn.tsv"), gz))
    assert isinstance(db, TsvAsn)
    assert db.lookup("39.40.1.2") == (17557, "PKTELECOM-AS-PK Pakistan Telecommunication")
    assert db.lookup("2400:adc0::1") == (9541, "CYBERNET-AP Cyber Internet")
    assert db.lookup("1.0.2.1") == (0, None)  # not routed
    assert db.lookup("8.8.8.8") == (0, None) and db.lookup("not an address") == (0, None)
    assert db.name("AS13335") == "CLOUDFLARENET" == db.name(13335) == db.name("as13335")
    assert db.name("AS0") is None and db.name("AS99999") is None and db.name(None) is None


def test_a_bad_tsv_line_is_skipped_and_named_never_the_lines_around_it(tmp_path: Path) -> None:
    db = open_asn_db(write_tsv(tmp_path / "ip2asn.tsv"))
    assert isinstance(db, TsvAsn)
    assert db.skipped == 2
    assert db.reasons[0].endswith("ip2asn.tsv:4: 1 columns, expected 5")
    assert "ip2asn.tsv:6: not a range" in db.reasons[1]
    assert db.lookup("10.66.61.5") == (64510, "LAB-TRANSIT")  # the line after the bad one
    assert db.name("AS17557") is not None  # and the one before


def test_a_maxmind_asn_database_gives_addresses_and_names(tmp_path: Path) -> None:
    path = write_asn_db(tmp_path / "asn.mmdb", {"10.66.60.0/24": (64510, "LAB-TRANSIT"),
                                                 "39.32.0.0/11": (17557, "PTCL-AS")})  # fmt: skip
    db = open_asn_db(path)
    assert isinstance(db, MmdbAsn)
    assert db.lookup("10.66.60.5") == (64510, "LAB-TRANSIT")
    assert db.lookup("9.9.9.9") == (0, None)
    assert db.name("AS17557") == "PTCL-AS" and db.name("AS1") is None
    db.close()


def test_a_file_of_neither_format_is_a_clear_input_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tsv"
    junk.write_text("hello\nworld\n")
    with pytest.raises(InputError, match=r"junk.tsv: not an ASN database .*junk.tsv:1"):
        open_asn_db(junk)
    with pytest.raises(InputError, match="cannot read"):
        open_asn_db(tmp_path / "absent.tsv")


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("AS17557", 17557),
        ("as17557", 17557),
        ("17557", 17557),
        (17557, 17557),
        ("ASX", 0),
        ("", 0),
        (None, 0),
        (-3, 0),
        (True, 0),
    ],
)
def test_an_as_number_is_read_in_every_spelling(text: object, number: int) -> None:
    assert asn_number(text) == number  # type: ignore[arg-type]
