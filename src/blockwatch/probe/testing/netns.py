"""Running a coroutine inside a network namespace the test creates (with nftables rules)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def netns_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs `{tool}`"
    return None


def run_in_netns(rules: str, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Create a namespace with lo up and ``rules`` (nft syntax) loaded, run ``main()`` in a
    thread that joined it (sockets made there live in it), then delete the namespace."""
    name = f"bwprobe{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            ["ip", "netns", "exec", name, "nft", "-f", "-"], input=rules.encode(), check=True
        )
        box: dict[str, object] = {}

        def target() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            try:
                box["value"] = asyncio.run(main())
            except BaseException as exc:
                box["error"] = exc

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
