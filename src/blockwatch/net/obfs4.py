"""obfs4 step: a handshake with a bridge through ``obfs4proxy`` run as a pluggable-transport
client (Tor's PT protocol: managed mode, a SOCKS5 listener on loopback).

The bridge's arguments (``cert=...;iat-mode=0``) travel in the SOCKS5 username/password, as
Tor passes them. obfs4proxy dials the bridge and completes the obfs4 handshake before it
grants the SOCKS request, so a granted request is a bridge that spoke obfs4 back.

The child is bounded and never outlives us: it gets a deadline to announce its listener, it
exits when its stdin closes (``TOR_PT_EXIT_ON_STDIN_CLOSE``) and is killed when we die
(PR_SET_PDEATHSIG, so a crash too), and ``close()`` terminates it then kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ipaddress
import os
import shutil
import signal
import struct
import tempfile
from dataclasses import dataclass
from typing import Final

from blockwatch.net import failures

__all__ = ["OBFS4PROXY", "Obfs4Client", "obfs4_available", "socks5_connect"]

OBFS4PROXY: Final = "obfs4proxy"
START_TIMEOUT: Final = 10.0
PR_SET_PDEATHSIG: Final = 1
# SOCKS5 reply codes (RFC 1928) as OONI failure words.
_REPLIES: Final = {
    1: "unknown_failure: socks general failure",
    3: "network_unreachable",
    4: "host_unreachable",
    5: failures.CONNECTION_REFUSED,
    6: failures.GENERIC_TIMEOUT,
}


def _die_with_parent() -> None:
    # Runs in the child before exec: it is killed when we die, even by SIGKILL.
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def obfs4_available() -> str | None:
    """The obfs4proxy binary's path, or None when it is not installed."""
    return shutil.which(OBFS4PROXY)


@dataclass(slots=True)
class Obfs4Client:
    """A running obfs4proxy client: its SOCKS5 address; ``close()`` ends it."""

    process: asyncio.subprocess.Process
    socks: tuple[str, int]
    state_dir: tempfile.TemporaryDirectory[str]

    @classmethod
    async def start(cls, binary: str | None = None) -> Obfs4Client:
        """Start obfs4proxy and wait for its ``CMETHOD obfs4 socks5 ADDR`` line."""
        path = binary or obfs4_available()
        if path is None:
            raise FileNotFoundError("obfs4proxy is not installed")
        state = tempfile.TemporaryDirectory(prefix="bw-obfs4-")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TOR_PT_MANAGED_TRANSPORT_VER": "1",
            "TOR_PT_CLIENT_TRANSPORTS": "obfs4",
            "TOR_PT_STATE_LOCATION": state.name,
            "TOR_PT_EXIT_ON_STDIN_CLOSE": "1",
        }
        process = await asyncio.create_subprocess_exec(
            path,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )
        client = cls(process, ("127.0.0.1", 0), state)
        try:
            async with asyncio.timeout(START_TIMEOUT):
                client.socks = await _announced(process)
        except BaseException:
            await client.close()
            raise
        return client

    async def close(self) -> None:
        """Close its stdin (it exits), then terminate, then kill; idempotent."""
        proc = self.process
        if proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.terminate()
                async with asyncio.timeout(3):
                    await proc.wait()
            except (TimeoutError, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        self.state_dir.cleanup()


async def _announced(process: asyncio.subprocess.Process) -> tuple[str, int]:
    assert process.stdout is not None
    while True:
        line = (await process.stdout.readline()).decode("utf-8", "replace").strip()
        if not line:
            raise RuntimeError("obfs4proxy exited before announcing its listener")
        words = line.split()
        if words[:3] == ["CMETHOD", "obfs4", "socks5"] and len(words) >= 4:
            host, _, port = words[3].rpartition(":")
            return host, int(port)
        if words and words[0] in ("CMETHOD-ERROR", "ENV-ERROR", "VERSION-ERROR"):
            raise RuntimeError(f"obfs4proxy: {line}")


async def socks5_connect(
    proxy: tuple[str, int], ip: str, port: int, args: str, *, timeout: float
) -> str | None:
    """Ask the SOCKS5 proxy for ``ip:port`` with ``args`` as credentials: None when granted,
    else OONI's failure word for why not. The connection is closed either way."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(*proxy)
            writer.write(b"\x05\x01\x02")  # version 5, one method: username/password
            if (await reader.readexactly(2))[1] != 2:
                return "unknown_failure: the proxy refused username/password auth"
            raw = args.encode() or b"\x00"
            user, password = raw[:255], raw[255:] or b"\x00"
            writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            if (await reader.readexactly(2))[1] != 0:
                return "unknown_failure: the proxy rejected the bridge arguments"
            addr = ipaddress.ip_address(ip)
            kind = b"\x01" if addr.version == 4 else b"\x04"
            writer.write(b"\x05\x01\x00" + kind + addr.packed + struct.pack("!H", port))
            reply = await reader.readexactly(2)
            code = reply[1]
            return None if code == 0 else _REPLIES.get(code, f"unknown_failure: socks {code}")
    except Exception as exc:
        return failures.failure_string(exc)
    finally:
        if writer is not None:
            writer.transport.abort()
