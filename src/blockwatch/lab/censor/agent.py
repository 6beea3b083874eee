"""One ISP's censor, run inside its namespace: ``python -m blockwatch.lab.censor.agent``.

Hosts the ISP resolver, the middlebox, the blockpage server on 10.66.255.66, and loads
the nftables rules. Each command line is the censor's whole state for a round:
``{"down": bool, "blocks": {name: [technique, rate_bps]}, "addresses": {name: ip}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from blockwatch.lab.agentio import command_loop
from blockwatch.lab.censor import firewall
from blockwatch.lab.censor.blockpage import BLOCKPAGE_IP
from blockwatch.lab.censor.dns import Resolver
from blockwatch.lab.censor.middlebox import Middlebox, Rule
from blockwatch.pki import CertificateAuthority

MIDDLEBOX_TECHNIQUES = frozenset(
    {
        "tls.reset",
        "tls.timeout",
        "tls.mitm",
        "http.blockpage",
        "http.reset",
        "http.timeout",
        "throttled",
    }
)


class Censor:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.ca = CertificateAuthority.load(Path(config["ca_dir"]), "censor-ca")
        self._certs: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        web = {firewall.HTTP_REDIRECT_PORT: False, firewall.TLS_REDIRECT_PORT: True}
        self.middlebox = Middlebox("0.0.0.0", web, self.mitm_context)
        self.blockpage = Middlebox(BLOCKPAGE_IP, {80: False, 443: True}, self.mitm_context)
        self.blockpage.original_dst = False
        self.resolver = Resolver(config["upstream_dns"])
        self.state: str | None = None

    def mitm_context(self, name: str) -> ssl.SSLContext:
        """A certificate for ``name`` signed by the censor's CA (which nobody trusts)."""
        with self._lock:
            ctx = self._certs.get(name)
            if ctx is None:
                stem = "mitm-" + "".join(c if c.isalnum() else "_" for c in name)[:60]
                ctx = self._certs[name] = self.ca.server_context([name], stem)
            return ctx

    def apply(self, command: dict[str, Any]) -> None:
        blocks: dict[str, list[Any]] = command.get("blocks", {})
        addresses: dict[str, str] = command.get("addresses", {})
        by_tech: dict[str, set[str]] = {"tcp.timeout": set(), "tcp.reset": set()}
        mbox: set[str] = set()
        for name, (technique, _) in blocks.items():
            if technique in by_tech:
                by_tech[technique].add(addresses[name])
            elif technique in MIDDLEBOX_TECHNIQUES:
                mbox.add(addresses[name])
        dpi = any(technique == "dpi.handshake" for technique, _ in blocks.values())
        script = firewall.ruleset(
            bool(command.get("down")), by_tech["tcp.timeout"], by_tech["tcp.reset"], mbox, dpi
        )
        self.resolver.rules = {n: t for n, (t, _) in blocks.items() if t.startswith("dns.")}
        self.middlebox.rules = {
            n: Rule(t, int(r)) for n, (t, r) in blocks.items() if t in MIDDLEBOX_TECHNIQUES
        }
        if script != self.state:  # nft is the slow part: only when the rules change
            firewall.load(script)
            self.state = script


async def main_async(config: dict[str, Any]) -> None:
    censor = Censor(config)
    censor.apply({})
    censor.middlebox.start()
    censor.blockpage.start()
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(
        lambda: censor.resolver, local_addr=(config["resolver_host"], 53)
    )
    await command_loop(censor.apply)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockwatch.lab.censor.agent")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        asyncio.run(main_async(orjson.loads(args.config.read_bytes())))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
