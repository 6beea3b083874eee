"""Writing a tiny MaxMind DB (IPv4 ASN records) so tests can exercise ``--geoip-db``.

Format: MaxMind DB spec v2 — a binary search tree (24-bit records), 16 zero bytes, a data
section, then the metadata map after ``\\xab\\xcd\\xefMaxMind.com``.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from pathlib import Path
from typing import Any


def _uint(kind: int, value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
    if kind <= 7:
        return bytes([(kind << 5) | len(raw)]) + raw
    return bytes([len(raw), kind - 7]) + raw  # extended type


def _encode(value: Any) -> bytes:
    if isinstance(value, str):
        data = value.encode()
        if len(data) < 29:
            return bytes([0x40 | len(data)]) + data
        assert len(data) < 285
        return bytes([0x40 | 29, len(data) - 29]) + data
    if isinstance(value, dict):
        out = bytes([0xE0 | len(value)])
        for k, v in value.items():
            out += _encode(k) + _encode(v)
        return out
    if isinstance(value, list):
        return bytes([len(value), 4]) + b"".join(_encode(v) for v in value)
    if isinstance(value, tuple):  # (type, int): uint16 = 5, uint32 = 6, uint64 = 9
        return _uint(value[0], value[1])
    raise TypeError(value)


def write_asn_db(path: Path, networks: dict[str, tuple[int, str]]) -> Path:
    """Write ``{"127.0.0.0/24": (64500, "Example AS"), ...}`` as an ASN database."""
    data = b""
    leaves: list[tuple[str, int]] = []
    for net, (asn, org) in networks.items():
        leaves.append((net, len(data)))
        record = {"autonomous_system_number": (6, asn), "autonomous_system_organization": org}
        data += _encode(record)
    # Trie over address bits; a node is [left, right], each a node index, ("data", off) or None.
    nodes: list[list[Any]] = [[None, None]]
    for net, offset in leaves:
        n = ipaddress.ip_network(net)
        bits = format(int(n.network_address), "032b")[: n.prefixlen]
        node = 0
        for i, bit in enumerate(bits):
            side = int(bit)
            if i == len(bits) - 1:
                nodes[node][side] = ("data", offset)
            else:
                if not isinstance(nodes[node][side], int):
                    nodes.append([None, None])
                    nodes[node][side] = len(nodes) - 1
                node = nodes[node][side]
    count = len(nodes)
    tree = b""
    for left, right in nodes:
        for rec in (left, right):
            value = count if rec is None else rec if isinstance(rec, int) else count + 16 + rec[1]
            tree += struct.pack(">I", value)[1:]
    meta = {
        "node_count": (6, count),
        "record_size": (5, 24),
        "ip_version": (5, 4),
        "database_type": "blockwatch-test-ASN",
        "languages": ["en"],
        "binary_format_major_version": (5, 2),
        "binary_format_minor_version": (5, 0),
        "build_epoch": (9, int(time.time())),
        "description": {"en": "blockwatch test"},
    }
    path.write_bytes(tree + b"\0" * 16 + data + b"\xab\xcd\xefMaxMind.com" + _encode(meta))
    return path
