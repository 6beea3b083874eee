"""The tools' servers, run for real from Debian's packages: an OpenVPN server, an obfs4
bridge (obfs4proxy in server mode), a Tor relay.

Each is a child process in its own session with a config written to a folder of its own,
bounded in start-up time and ended by ``stop()`` (terminate, then kill). None may reach the
real network: the relay has no directory authorities but a made-up local one (so it never
contacts the real ones) and publishes nothing; all of them are meant to run inside the lab's
internet namespace, which has no route out. A missing binary is ``skip_reason``'s to report.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from blockwatch.errors import LabError
from blockwatch.lab.labtools import DIR_PORT, OBFS4_PORT, OPENVPN_PORT, OR_PORT
from blockwatch.pki import CertificateAuthority

__all__ = [
    "BINARIES",
    "ToolServer",
    "missing",
    "obfs4_bridge",
    "openvpn_server",
    "start_tools",
    "tor_relay",
]

BINARIES: Final = {"openvpn": "openvpn", "obfs4": "obfs4proxy", "tor": "tor"}
START_TIMEOUT: Final = 20.0
PR_SET_PDEATHSIG: Final = 1
_CERT = re.compile(r"cert=(\S+)")


def missing(*tools: str) -> str | None:
    """Why these tools' servers cannot run here (a binary not installed), or None."""
    absent = [BINARIES[t] for t in tools if shutil.which(BINARIES[t]) is None]
    return f"not installed: {', '.join(absent)} (make system-packages)" if absent else None


@dataclass
class ToolServer:
    """A running server process; ``params`` holds what a client needs (obfs4's cert)."""

    name: str
    process: asyncio.subprocess.Process
    address: tuple[str, int]
    params: str = ""

    async def stop(self) -> None:
        """Terminate, then kill after 3 s; idempotent."""
        proc = self.process
        if proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(3):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def _die_with_parent() -> None:
    # Runs in the child before exec: it is killed when we die, even by SIGKILL (a crash).
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


async def _spawn(
    argv: list[str], folder: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    log = (folder / "server.log").open("ab")
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), **(env or {})},
            cwd=folder,
            preexec_fn=_die_with_parent,  # never outlives us, even after a SIGKILL
            start_new_session=True,  # its own group: Ctrl-C reaches only us, who stop it
        )
    finally:
        log.close()


async def _wait_listening(server: ToolServer, proto: str, folder: Path) -> None:
    """Until the server holds its port, or fail (it exited, or START_TIMEOUT passed)."""
    ip, port = server.address
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            if server.process.returncode is not None:
                log = (folder / "server.log").read_text(errors="replace")[-800:]
                raise LabError(f"{server.name} exited at start: {log}")
            if _bound(ip, port, proto):
                return
            await asyncio.sleep(0.1)


def _bound(ip: str, port: int, proto: str) -> bool:
    # Never connect to see: OpenVPN's TCP server serves one client, and would restart.
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.bind((ip, port))
    except OSError:
        return True  # someone holds it: the server
    finally:
        sock.close()
    return False


async def openvpn_server(
    folder: Path, ca: CertificateAuthority, ip: str, port: int, proto: str
) -> ToolServer:
    """OpenVPN in server mode, no tls-auth/tls-crypt: it answers a client's hard reset, which
    is all a reachability probe asks. Server mode (many clients at once) needs a tun device,
    made in the caller's namespace, with an address pool of 10.66.240-247.0/24 picked by port
    and transport; the point-to-point mode (``--dev null``) serves one TCP client at a time
    and restarts after each, refusing the next connections meanwhile."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = ca.issue([f"vpn-{proto}.lab"], f"openvpn-{proto}-{port}")
    pool = f"10.66.{240 + (port % 4) * 2 + (proto == 'tcp')}.0"
    argv = [
        "openvpn", "--dev", "tun", "--server", pool, "255.255.255.0", "--topology", "subnet",
        "--proto", "udp" if proto == "udp" else "tcp-server",
        "--local", ip, "--lport", str(port), "--ca", str(ca.cert_file),
        "--cert", str(cert), "--key", str(key), "--dh", "none", "--verb", "1",
        "--hand-window", "10",
    ]  # fmt: skip
    server = ToolServer(f"openvpn/{proto}", await _spawn(argv, folder), (ip, port))
    try:
        await _wait_listening(server, "tcp" if proto == "tcp" else "udp", folder)
    except BaseException:
        await server.stop()
        raise
    return server


async def obfs4_bridge(folder: Path, ip: str, port: int, or_port: tuple[str, int]) -> ToolServer:
    """obfs4proxy as a managed server transport in front of ``or_port``; ``params`` is the
    bridge line's ``cert=...;iat-mode=0``."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "TOR_PT_MANAGED_TRANSPORT_VER": "1",
        "TOR_PT_SERVER_TRANSPORTS": "obfs4",
        "TOR_PT_SERVER_BINDADDR": f"obfs4-{ip}:{port}",
        "TOR_PT_ORPORT": f"{or_port[0]}:{or_port[1]}",
        "TOR_PT_STATE_LOCATION": str(folder / "state"),
    }
    server = ToolServer("obfs4", await _spawn(["obfs4proxy"], folder, env), (ip, port))
    try:
        await _wait_listening(server, "tcp", folder)
        line = (folder / "state" / "obfs4_bridgeline.txt").read_text()
        certs = _CERT.findall(line)
        if not certs:
            raise LabError("obfs4proxy wrote no bridge line")
        server.params = f"cert={certs[-1]};iat-mode=0"
    except BaseException:
        await server.stop()
        raise
    return server


async def tor_relay(folder: Path, ip: str, or_port: int, dir_port: int) -> ToolServer:
    """A Tor relay that answers TLS on its OR port and HTTP on its dir port, and talks to
    nobody: AssumeReachable, no publication, and a made-up directory authority on its own
    address in place of the real ones."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    data.mkdir(exist_ok=True)
    os.chmod(data, 0o700)
    torrc = folder / "torrc"
    fake_authority = "0" * 40
    torrc.write_text(
        "\n".join(
            [
                f"DataDirectory {data}",
                "SocksPort 0",
                f"ORPort {ip}:{or_port}",
                f"DirPort {ip}:{dir_port}",
                f"Address {ip}",
                "AssumeReachable 1",
                "PublishServerDescriptor 0",
                "ExitRelay 0",
                "UseDefaultFallbackDirs 0",
                f"DirAuthority lab orport={or_port} no-v2 {ip}:{dir_port} {fake_authority}",
                "Nickname blockwatchlab",
                "ContactInfo lab",
                "Log notice stdout",
                "RunAsDaemon 0",
                "",
            ]
        )
    )
    argv = ["tor", "-f", str(torrc), "--defaults-torrc", "/dev/null"]
    server = ToolServer("tor", await _spawn(argv, folder), (ip, or_port))
    try:
        await _wait_listening(server, "tcp", folder)
    except BaseException:
        await server.stop()
        raise
    return server


def which(tool: str) -> str | None:
    """The binary's path for one of BINARIES' tools."""
    if tool not in BINARIES:
        raise LabError(f"unknown tool server {tool!r}")
    return shutil.which(BINARIES[tool])


async def start_tools(spec: dict[str, Any], ca: CertificateAuthority) -> list[ToolServer]:
    """A scenario's tool servers (the lab's internet agent calls it in its namespace):
    ``spec`` = ``{"work": folder, "relays": [ip], "bridge": ip | None, "openvpn": ip | None,
    "transports": [...]}``. All or nothing: a server that fails to start stops the others."""
    work = Path(spec["work"])
    started: list[ToolServer] = []

    async def keep(server: Any) -> None:
        started.append(await server)

    relays: list[str] = spec.get("relays", [])
    try:
        async with asyncio.TaskGroup() as group:
            for i, ip in enumerate(relays, 1):
                group.create_task(keep(tor_relay(work / f"tor{i}", ip, OR_PORT, DIR_PORT)))
            vpn = str(spec.get("openvpn") or "")
            for proto in spec.get("transports", []) if vpn else []:
                folder = work / f"openvpn-{proto}"
                group.create_task(keep(openvpn_server(folder, ca, vpn, OPENVPN_PORT, proto)))
            if spec.get("bridge"):
                # The bridge fronts the first relay (a reachability probe ends at the obfs4
                # handshake, before the bridge dials it; an absent relay is fine).
                front = (relays[0], OR_PORT) if relays else ("127.0.0.1", 9)
                group.create_task(
                    keep(obfs4_bridge(work / "obfs4", spec["bridge"], OBFS4_PORT, front))
                )
    except BaseException:
        await asyncio.gather(*(s.stop() for s in started), return_exceptions=True)
        raise
    return started
