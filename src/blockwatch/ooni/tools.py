"""The series name ("domain") of a measurement of a tool rather than a website.

Events are per (country, network, domain). For OONI's circumvention and messaging tests the
"domain" is the tool: ``tor`` (relays and directory ports), ``tor-obfs4`` (obfs4 bridges),
``openvpn``, ``signal``, ``telegram``, ``whatsapp``. So "Tor blocked on AS17557 since ..." is
an event like a website's, and obfs4 keeps its own series next to vanilla Tor's.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["OBFS4_DOMAIN", "TOOL_TESTS", "tool_domain"]

OBFS4_DOMAIN: Final = "tor-obfs4"
TOOL_TESTS: Final = {
    "tor": "tor",
    "vanilla_tor": "tor",
    "openvpn": "openvpn",
    "signal": "signal",
    "telegram": "telegram",
    "whatsapp": "whatsapp",
}


def tool_domain(test_name: str, test_keys: Any) -> str | None:
    """The tool's series name, or None when ``test_name`` is not a tool test."""
    name = TOOL_TESTS.get(test_name)
    if name is None or not isinstance(test_keys, dict):
        return name
    if test_name == "tor":
        targets = test_keys.get("targets")
        items = list(targets.values()) if isinstance(targets, dict) else targets
        if isinstance(items, list) and items:
            kinds = {t.get("target_protocol") for t in items if isinstance(t, dict)}
            if kinds == {"obfs4"}:
                return OBFS4_DOMAIN
    elif test_name == "vanilla_tor" and test_keys.get("transport_name") == "obfs4":
        return OBFS4_DOMAIN
    return name
