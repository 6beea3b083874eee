"""Loopback stand-ins for OONI's archive, and measurements to fill them (tests, benches)."""

from blockwatch.scale.testing.data import (
    PK_NETWORKS,
    load_real_measurements,
    ooni_uid,
    replant,
    replant_iter,
)
from blockwatch.scale.testing.mimic import Faults, MimicRecord, OoniMimic

__all__ = [
    "PK_NETWORKS",
    "Faults",
    "MimicRecord",
    "OoniMimic",
    "load_real_measurements",
    "ooni_uid",
    "replant",
    "replant_iter",
]
