"""The lab's network: namespaces, veth links, addresses and routes (the I/O edge).

    vantage v<i> ──eth0/vp── censor c<i> ──wan/n<i>── inet ──ctl/eth0── ctl (control helper)
    10.66.(10+i).2          .1 | 10.66.(110+i).2     .1 origins 10.66.0.x, DNS 10.66.0.53

A scenario network may declare a path: transit routers r<i>b<j> between the vantage and
the censor and r<i>a<j> between the censor and the internet, each a plain Linux router
(it answers time-exceeded), linked by /30s of 10.66.(60+i).0/24; the first router holds
10.66.(10+i).1, the last one 10.66.(110+i).2, and the ISP resolver is the censor's
address facing the vantage (``NetworkPlan.resolver``).

Every name starts with ``bwlab<run>-``; links are created directly inside namespaces, so
nothing of the lab ever appears in the host's namespace, and deleting the namespaces
removes every link. The vantage reaches the control helper through its censor (the
censor exempts it: no rule matches its address), so an outage of the network cuts the
control off too and the analyzer says "inconclusive", never "blocked".
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from blockwatch.errors import LabError
from blockwatch.lab.censor.blockpage import BLOCKPAGE_IP
from blockwatch.lab.internet import AUTH_DNS

PREFIX = "bwlab"
REGISTRY = Path("/run/blockwatch-lab")
NETNS_ETC = Path("/etc/netns")
CONTROL_IP = "10.66.250.2"
CONTROL_PORT = 8000  # network i's control helper listens on CONTROL_PORT + i


def control_port(index: int) -> int:
    return CONTROL_PORT + index


@dataclass(frozen=True, slots=True)
class NetworkPlan:
    index: int
    vantage: str  # namespace names
    censor: str
    before: tuple[str, ...] = ()  # transit routers between the vantage and the censor
    after: tuple[str, ...] = ()  # and between the censor and the internet

    @property
    def vantage_ip(self) -> str:
        return f"10.66.{10 + self.index}.2"

    @property
    def gateway(self) -> str:  # the vantage's router: the censor when there is no path
        return f"10.66.{10 + self.index}.1"

    @property
    def resolver(self) -> str:
        """The ISP resolver, in the censor's namespace: its address facing the vantage."""
        return self.censor_address

    @property
    def censor_address(self) -> str:
        """The censor's address facing the vantage (what its time-exceeded comes from)."""
        return self.hop_addresses[len(self.before)]

    @property
    def censor_hop(self) -> int:
        """The TTL at which a packet from the vantage reaches the censor."""
        return len(self.before) + 1

    @property
    def routers(self) -> list[str]:
        """The namespaces from the vantage's router to the internet's, in path order."""
        return [*self.before, self.censor, *self.after]

    @property
    def hop_addresses(self) -> list[str]:
        """Each router's address facing the vantage, in path order (hop 1, 2, …)."""
        return [self.gateway] + [
            self.middle_link(k)[0] for k in range(1, len(self.before) + len(self.after) + 1)
        ]

    def middle_link(self, k: int) -> tuple[str, str]:
        """Link k, from router k (downstream) to router k+1, a /30 of 10.66.(60+i).0/24:
        (router k+1's address, router k's address)."""
        return f"10.66.{60 + self.index}.{4 * k - 3}", f"10.66.{60 + self.index}.{4 * k - 2}"

    @property
    def uplink(self) -> tuple[str, str]:  # (inet side, the last router's side)
        return f"10.66.{110 + self.index}.1", f"10.66.{110 + self.index}.2"


@dataclass(frozen=True, slots=True)
class Plan:
    run_id: str
    inet: str
    control: str
    networks: tuple[NetworkPlan, ...]

    @property
    def namespaces(self) -> list[str]:
        inner = [ns for n in self.networks for ns in (n.censor, n.vantage, *n.before, *n.after)]
        return [self.inet, self.control, *inner]


def new_run_id() -> str:
    return f"{os.getpid()}x{secrets.token_hex(2)}"


def plan(n_networks: int, run_id: str, paths: Sequence[tuple[int, int]] = ()) -> Plan:
    """The lab's namespaces; ``paths[i]``: network i's routers (before, after) its censor."""
    base = f"{PREFIX}{run_id}-"
    nets = []
    for i in range(n_networks):
        before, after = paths[i] if i < len(paths) else (0, 0)
        nets.append(
            NetworkPlan(
                i, f"{base}v{i}", f"{base}c{i}",
                tuple(f"{base}r{i}b{j}" for j in range(1, before + 1)),
                tuple(f"{base}r{i}a{j}" for j in range(1, after + 1)),
            )
        )  # fmt: skip
    return Plan(run_id, f"{base}inet", f"{base}ctl", tuple(nets))


def skip_reason() -> str | None:
    """Why this machine cannot build the lab, or None."""
    if os.geteuid() != 0:
        if _userns_available():
            return (
                "not root: the lab needs CAP_NET_ADMIN to create namespaces. Unprivileged "
                "user namespaces are available here (`unshare --user --net --mount "
                "--map-root-user`), but `ip netns` also needs a writable /run/netns there; "
                "run the lab as root"
            )
        return (
            "the lab needs CAP_NET_ADMIN: this process is not root, and unprivileged user "
            "namespaces are disabled (kernel.unprivileged_userns_clone or "
            "user.max_user_namespaces); run as root"
        )
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the lab needs `{tool}` (apt-get install iproute2 nftables)"
    return None


def _userns_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "--user", "--net", "--map-root-user", "true"],
            capture_output=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def run(args: list[str], stdin: str | None = None) -> None:
    try:
        done = subprocess.run(
            args, input=stdin.encode() if stdin else None, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"cannot run {' '.join(args[:4])}: {exc}") from exc
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise LabError(f"`{' '.join(args[:5])}` failed: {err}")


def build(p: Plan, site_ips: list[str]) -> None:
    """Create the namespaces, links, addresses and routes of plan ``p``."""
    reason = skip_reason()
    if reason is not None:
        raise LabError(reason)
    REGISTRY.mkdir(parents=True, exist_ok=True)
    (REGISTRY / f"{p.run_id}.json").write_bytes(
        orjson.dumps({"pid": os.getpid(), "namespaces": p.namespaces})
    )
    for ns in p.namespaces:
        run(["ip", "netns", "add", ns])
    links = [f"link add name eth0 netns {p.control} type veth peer name ctl netns {p.inet}"]
    for n in p.networks:
        links += _path_links(n, p.inet)
    run(["ip", "-batch", "-"], "\n".join(links) + "\n")

    # The blockpage address is also a closed host of the internet: the control helper,
    # asked to connect where a lying resolver pointed the probe, is refused at once
    # (a route-less address would get rate-limited ICMP errors and slow timeouts).
    inet = [
        "link set lo up",
        f"addr add {AUTH_DNS}/32 dev lo",
        f"addr add {BLOCKPAGE_IP}/32 dev lo",
    ]
    inet += [f"addr add {ip}/32 dev lo" for ip in sorted(set(site_ips))]
    inet += ["addr add 10.66.250.1/24 dev ctl", "link set ctl up"]
    for n in p.networks:
        inet_ip, censor_ip = n.uplink
        inet += [
            f"addr add {inet_ip}/24 dev n{n.index}",
            f"link set n{n.index} up",
            f"route add 10.66.{10 + n.index}.0/24 via {censor_ip}",
        ]
        if n.before or n.after:
            inet.append(f"route add 10.66.{60 + n.index}.0/24 via {censor_ip}")
        _build_path(n)
        _batch(n.vantage, [
            "link set lo up", f"addr add {n.vantage_ip}/24 dev eth0", "link set eth0 up",
            f"route add default via {n.gateway}",
        ])  # fmt: skip
        etc = NETNS_ETC / n.vantage
        etc.mkdir(parents=True, exist_ok=True)
        # getaddrinfo in the vantage asks the ISP resolver, quickly giving up.
        (etc / "resolv.conf").write_text(
            f"nameserver {n.resolver}\noptions timeout:1 attempts:1\n", encoding="utf-8"
        )
    _batch(p.inet, inet)
    _forwarding(p.inet)
    _batch(p.control, [
        "link set lo up", f"addr add {CONTROL_IP}/24 dev eth0", "link set eth0 up",
        "route add default via 10.66.250.1",
    ])  # fmt: skip


def _ifnames(n: NetworkPlan, ns: str) -> tuple[str, str]:
    """(facing the vantage, facing the internet): the censor keeps its vp/wan names, which
    its nftables rules match."""
    return ("vp", "wan") if ns == n.censor else ("south", "north")


def _path_links(n: NetworkPlan, inet: str) -> list[str]:
    """veth pairs along vantage → routers (before, censor, after) → internet."""
    routers = n.routers
    first_down = _ifnames(n, routers[0])[0]
    links = [
        f"link add name {first_down} netns {routers[0]} type veth peer name eth0 netns {n.vantage}"
    ]
    for low, high in itertools.pairwise(routers):
        up, down = _ifnames(n, low)[1], _ifnames(n, high)[0]
        links.append(f"link add name {down} netns {high} type veth peer name {up} netns {low}")
    last_up = _ifnames(n, routers[-1])[1]
    links.append(
        f"link add name {last_up} netns {routers[-1]} type veth peer name n{n.index} netns {inet}"
    )
    return links


def _build_path(n: NetworkPlan) -> None:
    """Addresses and routes of network ``n``'s routers; the censor also holds the blockpage
    server's address. Each router answers time-exceeded like any Linux router."""
    routers = n.routers
    inet_ip, last_ip = n.uplink
    for k, ns in enumerate(routers, start=1):
        down, up = _ifnames(n, ns)
        cmds = ["link set lo up", f"link set {down} up", f"link set {up} up"]
        if ns == n.censor:
            cmds.append(f"addr add {BLOCKPAGE_IP}/32 dev lo")
        if k == 1:
            cmds.append(f"addr add {n.gateway}/24 dev {down}")
        else:
            mine, below = n.middle_link(k - 1)
            cmds.append(f"addr add {mine}/30 dev {down}")
            cmds.append(f"route add 10.66.{10 + n.index}.0/24 via {below}")
            cmds.append(f"route add 10.66.{60 + n.index}.0/24 via {below}")
        if k == len(routers):
            cmds += [f"addr add {last_ip}/24 dev {up}", f"route add default via {inet_ip}"]
        else:
            upper, mine = n.middle_link(k)
            cmds += [f"addr add {mine}/30 dev {up}", f"route add default via {upper}"]
        _batch(ns, cmds)
        _forwarding(ns)


def _batch(ns: str, commands: list[str]) -> None:
    run(["ip", "-n", ns, "-batch", "-"], "\n".join(commands) + "\n")


def _forwarding(ns: str) -> None:
    # Routers of the lab answer every unroutable packet with an ICMP error at once: the
    # kernel's ICMP rate limit (1/s per peer after a burst) would turn errors into
    # timeouts and make rounds slow for no realism gained.
    settings = [
        "net.ipv4.ip_forward=1",
        "net.ipv4.icmp_ratelimit=0",
        "net.ipv4.icmp_msgs_per_sec=100000",
        "net.ipv4.icmp_msgs_burst=10000",
    ]
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", *settings])


def destroy(namespaces: list[str]) -> None:
    """Kill what runs in these namespaces and delete them (never raises)."""
    for ns in namespaces:
        _kill_inside(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)


def _kill_inside(ns: str) -> None:
    done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, check=False)
    for pid in done.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(pid), signal.SIGKILL)


def teardown(p: Plan) -> None:
    destroy(p.namespaces)
    (REGISTRY / f"{p.run_id}.json").unlink(missing_ok=True)


def _live_runs() -> set[str]:
    """Run ids whose runner process is still alive (their lab is in use)."""
    live: set[str] = set()
    for entry in REGISTRY.glob("*.json") if REGISTRY.is_dir() else []:
        try:
            pid = int(orjson.loads(entry.read_bytes())["pid"])
            os.kill(pid, 0)
        except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            continue
        live.add(entry.stem)
    return live


def ours() -> list[str]:
    """Every lab namespace on this machine (any run)."""
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, check=False)
    names = [line.split()[0] for line in done.stdout.decode().splitlines() if line.strip()]
    return [n for n in names if n.startswith(PREFIX)]


def down(force: bool = False) -> list[str]:
    """Remove the leftovers of lab runs that are gone (all runs with ``force``)."""
    live = set() if force else _live_runs()
    removed = []
    for ns in ours():
        run_id = ns[len(PREFIX) :].split("-", 1)[0]
        if run_id not in live:
            destroy([ns])
            removed.append(ns)
    leftovers = list(NETNS_ETC.glob(f"{PREFIX}*")) if NETNS_ETC.is_dir() else []
    for path in leftovers:
        if path.name[len(PREFIX) :].split("-", 1)[0] not in live:
            shutil.rmtree(path, ignore_errors=True)
    for entry in REGISTRY.glob("*.json") if REGISTRY.is_dir() else []:
        if entry.stem not in live:
            entry.unlink(missing_ok=True)
    return removed
