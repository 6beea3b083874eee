"""DNS consistency against the control: shared address or AS, NXDOMAIN both sides, bogons."""

from __future__ import annotations

from blockwatch.analysis.bogons import is_bogon
from blockwatch.analysis.dns_consistency import check
from blockwatch.analysis.observations import ControlObservation, DnsObservation


def _probe(**engines: list[str]) -> DnsObservation:
    obs = DnsObservation("example.org")
    for engine, addrs in engines.items():
        obs.engines[engine] = (list(addrs), [] if addrs else ["dns_nxdomain_error"])
        for a in addrs:
            if a not in obs.asns:
                obs.addrs.append(a)
                obs.asns[a] = 15133 if a.startswith("93.") else 0
    return obs


def _control(addrs: list[str], failure: str | None = None) -> ControlObservation:
    asns = {a: 15133 for a in addrs if a.startswith("93.")}
    return ControlObservation(failure, addrs, asns, None, 200, {}, 100, "t")


def test_a_shared_address_is_consistent():
    assert check(_probe(system=["93.184.216.34"]), _control(["93.184.216.34"])).consistency == (
        "consistent"
    )


def test_a_different_address_in_the_same_as_is_consistent():
    v = check(_probe(system=["93.184.216.99"]), _control(["93.184.216.34"]))
    assert v.consistency == "consistent"


def test_an_address_sharing_nothing_is_inconsistent_and_named():
    v = check(_probe(system=["130.192.182.17"]), _control(["93.184.216.34"]))
    assert (v.consistency, v.suspicious, v.bogons) == ("inconsistent", ("130.192.182.17",), ())


def test_one_lying_resolver_is_enough_even_if_another_tells_the_truth():
    v = check(_probe(system=["93.184.216.34"], udp=["83.224.65.41"]), _control(["93.184.216.34"]))
    assert v.consistency == "inconsistent" and v.suspicious == ("83.224.65.41",)


def test_nxdomain_on_both_sides_is_consistent():
    v = check(_probe(system=[]), _control([], failure="dns_name_error"))
    assert v.consistency == "nxdomain_both"


def test_a_bogon_the_control_does_not_give_is_tampering():
    v = check(_probe(system=["10.10.34.35"]), _control(["93.184.216.34"]))
    assert v.consistency == "inconsistent" and v.bogons == ("10.10.34.35",)
    # ...but a private address the control also gives (a lab or an intranet site) is fine.
    v = check(_probe(system=["10.66.1.10"]), _control(["10.66.1.10"]))
    assert v.consistency == "consistent" and v.bogons == ()


def test_bogons_are_private_loopback_reserved_and_documentation_ranges():
    assert all(map(is_bogon, ["10.1.2.3", "127.0.0.1", "0.0.0.0", "100.64.1.1", "::1"]))
    assert all(map(is_bogon, ["198.51.100.7", "::ffff:192.168.1.1", "fe80::1"]))
    assert not any(map(is_bogon, ["93.184.216.34", "2a00:1450:4001::1", "not-an-ip"]))
