"""The seal of an evidence report: a digest of every byte of the document, optionally signed.

The seal is one element just before ``</body>``::

    <script type="application/json" id="blockwatch-seal">{"format":2,"key_id":...,
    "page_sha256":"...","signature":...}</script>

``page_sha256`` is the SHA-256 of the document's bytes with the seal's JSON text cut out (the
element's tags stay), so it covers everything a reader sees and everything they do not:
text, markup, styles, the embedded data. ``signature`` (base64) is an Ed25519 signature by
the key ``key_id`` (blockwatch.signing) over ``SIGNED_CONTEXT`` followed by the seal's other
fields as JSON with sorted keys. The seal's JSON must be exactly as written (sorted keys, no
spaces), so not a byte of the file escapes the check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Final

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from blockwatch import signing

__all__ = ["SEAL_FORMAT", "Seal", "SealCheck", "check", "find", "seal"]

SEAL_FORMAT: Final = 2
SEAL_ID: Final = "blockwatch-seal"
OPEN: Final = f'<script type="application/json" id="{SEAL_ID}">'.encode()
CLOSE: Final = b"</script>"
SIGNED_CONTEXT: Final = b"blockwatch evidence report seal\n"


@dataclass(frozen=True, slots=True)
class Seal:
    """A seal as found in a document, and the digest of the document around it."""

    fields: dict[str, Any]
    canonical: bool  # its JSON is byte for byte what blockwatch writes
    recomputed: str  # SHA-256 of the document without the seal's JSON


@dataclass(frozen=True, slots=True)
class SealCheck:
    problems: list[str]
    claimed_key: str | None  # the key id the seal names (checked only with a public key)
    signed_by: str | None  # that key id, once its signature was checked and is valid


def _dumps(fields: dict[str, Any]) -> bytes:
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def _signed_message(fields: dict[str, Any]) -> bytes:
    return SIGNED_CONTEXT + _dumps({k: v for k, v in fields.items() if k != "signature"})


def seal(page: str, key: Ed25519PrivateKey | None = None) -> str:
    """The page with its seal put in before ``</body>`` (signed with ``key`` if given)."""
    body_end = page.rfind("</body>")
    if body_end < 0:
        raise ValueError("a page to seal must have a </body>")
    before, after = page[:body_end].encode(), page[body_end:].encode()
    tags = OPEN + CLOSE + b"\n"
    fields: dict[str, Any] = {
        "format": SEAL_FORMAT,
        "key_id": signing.key_id(key.public_key()) if key else None,
        "page_sha256": hashlib.sha256(before + tags + after).hexdigest(),
        "signature": None,
    }
    if key is not None:
        sig = signing.sign(key, _signed_message(fields))
        fields["signature"] = base64.b64encode(sig).decode()
    return (before + OPEN + _dumps(fields) + CLOSE + b"\n" + after).decode()


def find(document: bytes) -> Seal | None:
    """The seal of a document, or None when it has none (or more than one)."""
    if document.count(OPEN) != 1:
        return None
    start = document.index(OPEN) + len(OPEN)
    end = document.find(CLOSE, start)
    if end < 0:
        return None
    text = document[start:end]
    try:
        fields = orjson.loads(text)
    except orjson.JSONDecodeError:
        fields = None
    if not isinstance(fields, dict):
        return Seal({}, False, "")
    digest = hashlib.sha256(document[:start] + document[end:]).hexdigest()
    return Seal(fields, _dumps(fields) == text, digest)


def check(found: Seal | None, public: Ed25519PublicKey | None) -> SealCheck:
    """What is wrong with a document's seal (nothing: an empty list); with ``public``, the
    document must also carry a valid signature by that key."""
    if found is None:
        why = "the document has no seal (every report has one since format 2)"
        return SealCheck([f"{why}: what the page shows cannot be checked"], None, None)
    f = found.fields
    problems = []
    if f.get("format") != SEAL_FORMAT:
        problems.append(f"the seal is unreadable or of an unknown format ({f.get('format')!r})")
    elif not found.canonical:
        problems.append("the seal was altered (its text is not as blockwatch writes it)")
    elif f.get("page_sha256") != found.recomputed:
        problems.append("the page was altered: its SHA-256 differs from the one in its seal")
    claimed = _signer(f)
    if public is None:
        return SealCheck(problems, claimed, None)
    if f.get("signature") is None:
        problems.append("the report is not signed")
    elif f.get("key_id") != signing.key_id(public):
        problems.append(f"the report is signed by another key ({f.get('key_id')})")
    elif not _signature_valid(f, public):
        problems.append("the signature is not valid for this document and key")
    return SealCheck(problems, claimed, None if problems else claimed)


def _signer(fields: dict[str, Any]) -> str | None:
    key = fields.get("key_id")
    return key if isinstance(key, str) else None


def _signature_valid(fields: dict[str, Any], public: Ed25519PublicKey) -> bool:
    try:
        sig = base64.b64decode(str(fields.get("signature")), validate=True)
    except (binascii.Error, ValueError):
        return False
    return signing.is_valid(public, _signed_message(fields), sig)
