"""A report's page is checked, not only its data: any change a reader would see (or not see)
is a MISMATCH, and a signed report proves it came from the key holder unchanged."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blockwatch.cli import app
from blockwatch.web import report_check
from blockwatch.web.report import write_report

runner = CliRunner()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    stem = tmp_path_factory.mktemp("keys") / "observatory"
    res = runner.invoke(app, ["keys", "new", str(stem)])
    assert res.exit_code == 0, res.output
    return stem.with_name("observatory.key"), stem.with_name("observatory.pub")


@pytest.fixture(scope="module")
def plain_report(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(store_path, tmp_path_factory.mktemp("plain") / "r.html", event_id="ev-x-PK")


@pytest.fixture(scope="module")
def signed_report(
    store_path: Path, keys: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("signed") / "r.html"
    res = runner.invoke(
        app,
        ["report", "--db", str(store_path), "--event", "ev-x-PK", "--sign", str(keys[0]),
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def _verify(path: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["report", "--verify", str(path), *args])
    return res.exit_code, res.output


def _first_blocked_to_ok(html: str) -> str:
    return re.sub(r"<td>blocked</td>", "<td>ok</td>", html, count=1)


def _shown_sha(html: str) -> str:
    return re.sub(r'id="sha256">[0-9a-f]{64}<', 'id="sha256">' + "0" * 64 + "<", html)


# What a forger would change in a report a reader trusts.
EDITS: dict[str, Callable[[str], str]] = {
    "an outcome blocked -> ok": _first_blocked_to_ok,
    "a date": lambda h: h.replace("2024-02-17", "2024-02-18", 1),
    "the displayed SHA-256": _shown_sha,
    "an injected script": lambda h: h.replace("</main>", "<script>alert(1)</script></main>"),
    "the methodology": lambda h: h.replace("uncensored control", "censored control", 1),
    "an invisible space": lambda h: h.replace("<body ", "<body  ", 1),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_change_a_reader_would_see_in_the_page_is_a_mismatch(
    edit: str, plain_report: Path, store_path: Path, tmp_path: Path
) -> None:
    html = plain_report.read_text()
    changed = EDITS[edit](html)
    assert changed != html
    forged = tmp_path / "forged.html"
    forged.write_text(changed)
    code, out = _verify(forged, "--db", str(store_path))
    assert code == 1 and "MISMATCH" in out, out
    assert "altered" in out or "shown on the page" in out


def test_an_untouched_report_verifies_and_says_its_checksum_covers_the_whole_file(
    plain_report: Path, store_path: Path
) -> None:
    code, out = _verify(plain_report, "--db", str(store_path))
    assert code == 0 and "OK: 137 measurements unchanged; page unchanged" in out, out
    assert "not checked (unsigned" in out
    html = plain_report.read_text()
    assert "every byte of this file except the seal itself" in html
    assert "report format 2" in html and "not signed" in html
    assert report_check.read_meta(plain_report)["format"] == 2


def test_a_report_whose_seal_was_removed_does_not_verify(
    plain_report: Path, store_path: Path, tmp_path: Path
) -> None:
    html = re.sub(r'<script type="application/json" id="blockwatch-seal">.*?</script>\n', "",
                  plain_report.read_text(), flags=re.S)  # fmt: skip
    stripped = tmp_path / "stripped.html"
    stripped.write_text(html)
    code, out = _verify(stripped, "--db", str(store_path))
    assert code == 1 and "no seal" in out, out


def test_a_signed_report_verifies_with_the_published_key_with_or_without_the_store(
    signed_report: Path, keys: tuple[Path, Path], store_path: Path
) -> None:
    code, out = _verify(signed_report, "--db", str(store_path), "--pubkey", str(keys[1]))
    assert code == 0 and "signature  valid" in out, out
    code, out = _verify(signed_report, "--page-only", "--pubkey", str(keys[1]))
    assert code == 0 and "data not checked" in out, out
    assert "signed with the observatory's Ed25519 key" in signed_report.read_text()


def test_any_byte_changed_anywhere_in_a_signed_report_fails(
    signed_report: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    data = signed_report.read_bytes()
    seal_at = data.index(b'id="blockwatch-seal">')
    positions = [*range(0, len(data), len(data) // 40), *range(seal_at, seal_at + 300, 7)]
    forged = tmp_path / "forged.html"
    for pos in positions:
        changed = bytearray(data)
        changed[pos] ^= 0x01  # a visible letter, or an invisible byte: both must show
        forged.write_bytes(bytes(changed))
        result = report_check.verify(forged, None, public_key=keys[1])
        assert not result.ok, f"byte {pos} ({data[pos : pos + 1]!r}) changed unnoticed"


def test_a_page_edited_and_resealed_without_the_key_fails_the_signature_check(
    signed_report: Path, keys: tuple[Path, Path], store_path: Path, tmp_path: Path
) -> None:
    from blockwatch.web import seal

    html = signed_report.read_text()
    unsealed = re.sub(r'<script type="application/json" id="blockwatch-seal">.*?</script>\n', "",
                      html, flags=re.S)  # fmt: skip
    forged = tmp_path / "resealed.html"
    forged.write_text(seal.seal(_first_blocked_to_ok(unsealed)))
    code, out = _verify(forged, "--db", str(store_path), "--pubkey", str(keys[1]))
    assert code == 1 and "not signed" in out, out


def test_a_wrong_key_fails(signed_report: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["keys", "new", str(tmp_path / "other")]).exit_code == 0
    code, out = _verify(signed_report, "--page-only", "--pubkey", str(tmp_path / "other.pub"))
    assert code == 1 and "signed by another key" in out, out


def test_an_unsigned_report_checked_with_a_key_fails_clearly(
    plain_report: Path, keys: tuple[Path, Path], store_path: Path
) -> None:
    code, out = _verify(plain_report, "--db", str(store_path), "--pubkey", str(keys[1]))
    assert code == 1 and "the report is not signed" in out, out


def test_keys_new_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path,
) -> None:
    res = runner.invoke(app, ["keys", "new", str(tmp_path / "k")])
    assert res.exit_code == 0, res.output
    private, public = tmp_path / "k.key", tmp_path / "k.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    before = private.read_bytes()
    res = runner.invoke(app, ["keys", "new", str(tmp_path / "k")])
    assert res.exit_code == 2 and "refusing to overwrite" in res.output
    assert private.read_bytes() == before


def test_a_public_key_is_not_a_signing_key_and_a_signed_pdf_is_refused(
    store_path: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    base = ["report", "--db", str(store_path), "--event", "ev-x-PK"]
    res = runner.invoke(app, [*base, "--sign", str(keys[1]), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "not an unencrypted PEM private key" in res.output
    res = runner.invoke(app, [*base, "--sign", str(keys[0]), "--out", str(tmp_path / "r.pdf")])
    assert res.exit_code == 2 and "use .html" in res.output


@pytest.mark.parametrize(
    ("args", "culprit"),
    [
        (["--event", "ev-x-PK", "--out", "r.html", "--pubkey", "k.pub"], "--pubkey"),
        (["--verify", "r.html", "--sign", "k.key"], "--sign"),
        (["--verify", "r.html", "--page-only", "--data-out", "rows.jsonl"], "--data-out"),
    ],
)
def test_options_of_the_other_mode_are_a_usage_error(args: list[str], culprit: str) -> None:
    res = runner.invoke(app, ["report", *args])
    assert res.exit_code == 2 and culprit in res.output, res.output
