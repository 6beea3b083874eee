"""`blockwatch annotate add/import/list` on a real store."""

from __future__ import annotations

from pathlib import Path

import orjson

from blockwatch.store import Store
from storehelpers import Cli

REPO = Path(__file__).resolve().parents[2]


def test_annotate_add_then_list_shows_it(cli: Cli, db: Path) -> None:
    res = cli(
        "annotate", "add", "--db", db, "--date", "2024-02-22", "--country", "PK",
        "--domain", "x.com", "--title", "Sindh High Court orders X restored",
        "--url", "https://example.org/order",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    with Store(db, read_only=True) as s:
        [a] = s.annotations("PK", ["x.com"])
    assert a.title == "Sindh High Court orders X restored" and a.source == "cli"
    listed = cli("annotate", "list", "--db", db, "--country", "PK")
    assert "2024-02-22" in listed.output and "Sindh High Court" in listed.output


def test_annotate_import_reads_toml_and_ooni_findings_and_a_second_import_adds_nothing(
    cli: Cli, db: Path, tmp_path: Path
) -> None:
    findings = tmp_path / "incidents.json"
    findings.write_bytes(
        orjson.dumps(
            {
                "incidents": [
                    {
                        "id": "9",
                        "title": "Pakistan blocked Twitter/X",
                        "start_time": "2024-02-17T00:00:00.000000Z",
                        "end_time": "2025-05-06T00:00:00.000000Z",
                        "CCs": ["PK"],
                        "domains": ["x.com"],
                    }
                ]
            }
        )
    )
    toml = REPO / "scenarios" / "pk-2024-x.annotations.toml"
    first = cli("annotate", "import", "--db", db, toml, findings)
    assert first.exit_code == 0, first.output
    assert "8 annotations imported from 2 file(s)" in first.output
    cli("annotate", "import", "--db", db, toml, findings)
    with Store(db, read_only=True) as s:
        assert len(s.annotations()) == 8


def test_a_bad_annotation_is_one_clean_error_line_and_nothing_is_written(
    cli: Cli, db: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[annotation]]\ndate = 2024-02-22\ntitle = "ok"\n\n[[annotation]]\ntitle = "x"\n'
    )
    res = cli("annotate", "import", "--db", db, bad)
    assert res.exit_code == 2
    assert "annotation #2: no date" in res.output and "Traceback" not in res.output
    assert not db.exists()  # the file is read whole before the store is opened
