"""The lab censor: one agent per ISP (resolver, firewall, middlebox, blockpage server), each
run inside its namespace as ``python -m blockwatch.lab.censor.agent``."""

__all__: list[str] = []
