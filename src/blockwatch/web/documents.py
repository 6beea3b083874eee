"""A stored measurement as the measurement page shows it: the observations it holds, and the
document itself.

Every field of a stored document is untrusted (as in ``analysis/observations.py``): a value of
the wrong type shows as nothing, never as an error. A document nested deeper than
``MAX_TREE_DEPTH`` is shown as its stored text instead of a tree: writing JSON that deep
(``tojson``, ``json.dumps``) recurses once per level and fails near 1,000, and orjson writes
254 levels at most.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = ["BODY_PREVIEW", "MAX_TREE_DEPTH", "Document", "depth", "observations", "read"]

BODY_PREVIEW: Final = 20_000
MAX_TREE_DEPTH: Final = 100
TOO_DEEP: Final = "(nested too deep to show as a tree: see the measurement's text below)"


@dataclass(frozen=True, slots=True)
class Document:
    """``tree``: the parsed measurement (None if it is not a JSON object); ``text``: the
    stored text, set when the tree cannot be shown as JSON (too deep, or not JSON)."""

    tree: dict[str, Any] | None
    text: str | None


def depth(value: Any, limit: int = MAX_TREE_DEPTH) -> int:
    """How many containers deep ``value`` nests, counted without recursion; counting stops
    once past ``limit`` (the answer is then ``limit + 1``)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return limit + 1
        stack.extend((child, level + 1) for child in children)
    return deepest


def read(text: bytes) -> Document:
    """The stored text of a measurement, parsed where it can be shown as a tree."""
    shown = text.decode("utf-8", "replace")
    try:
        tree = orjson.loads(text)
    except orjson.JSONDecodeError:  # not JSON, or deeper than orjson reads (1,024 levels)
        return Document(None, shown)
    if not isinstance(tree, dict):
        return Document(None, shown)
    return Document(tree, shown if depth(tree) > MAX_TREE_DEPTH else None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _shown(value: Any) -> Any:
    """A nested value the page writes as JSON, or a note where it nests too deep."""
    return TOO_DEEP if depth(value) > MAX_TREE_DEPTH else value


def _body_text(body: Any) -> tuple[str | None, bool]:
    """An HTTP body as text for display (OONI may store it base64): (text, cut)."""
    if body is None:
        return None, False
    if isinstance(body, dict) and body.get("format") == "base64":
        try:
            data = body.get("data")
            text = base64.b64decode(data if isinstance(data, str) else "").decode(
                "utf-8", "replace"
            )
        except ValueError:
            text = str(body.get("data"))
    else:
        text = body if isinstance(body, str) else str(_shown(body))
    return text[:BODY_PREVIEW], len(text) > BODY_PREVIEW


def _requests(tk: dict[str, Any]) -> list[dict[str, Any]]:
    requests = []
    for r in _dicts(tk.get("requests")):
        req, resp = _dict(r.get("request")), _dict(r.get("response"))
        body, cut = _body_text(resp.get("body"))
        requests.append(
            {
                "url": req.get("url"),
                "method": req.get("method"),
                "failure": r.get("failure"),
                "status": resp.get("code"),
                "headers": {k: _shown(v) for k, v in _dict(resp.get("headers")).items()},
                "body": body,
                "body_cut": cut,
                "body_is_truncated": resp.get("body_is_truncated"),
            }
        )
    return requests


def _answers(query: dict[str, Any]) -> list[Any]:
    return [
        a.get("ipv4") or a.get("ipv6") or a.get("hostname") for a in _dicts(query.get("answers"))
    ]


def observations(raw: dict[str, Any]) -> dict[str, Any]:
    """The observations a Web Connectivity measurement holds, flattened for display."""
    tk = _dict(raw.get("test_keys"))
    summary = (
        "dns_consistency",
        "body_proportion",
        "status_code_match",
        "headers_match",
        "title_match",
        "blocking",
        "accessible",
    )
    return {
        "queries": [
            {
                "hostname": x.get("hostname"),
                "query_type": x.get("query_type"),
                "engine": x.get("engine"),
                "resolver": x.get("resolver_address"),
                "failure": x.get("failure"),
                "answers": _answers(x),
            }
            for x in _dicts(tk.get("queries"))
        ],
        "tcp_connect": [
            {
                "ip": x.get("ip"),
                "port": x.get("port"),
                "success": _dict(x.get("status")).get("success"),
                "failure": _dict(x.get("status")).get("failure"),
            }
            for x in _dicts(tk.get("tcp_connect"))
        ],
        "tls_handshakes": [
            {
                "address": x.get("address"),
                "server_name": x.get("server_name"),
                "failure": x.get("failure"),
                "tls_version": x.get("tls_version"),
            }
            for x in _dicts(tk.get("tls_handshakes"))
        ],
        "requests": _requests(tk),
        "control": _shown(tk.get("control")),
        "ooni_summary": {k: _shown(tk.get(k)) for k in summary if k in tk},
    }
