"""The censorship lab: a real censored network in Linux namespaces, driven by scenario files on
a virtual clock, scored against its ground truth.

``scenario`` and ``clock``/``truth`` are pure; ``topology``, ``internet``, ``censor/`` and
``agents`` build and run the network; ``run`` plays a scenario; ``score`` grades a run.

The names below load on first use: the lab's agent processes (``python -m
blockwatch.lab.internet``, ``blockwatch.lab.censor.agent``) import this package too, and must
not pay for the store and the analysis they never use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blockwatch.lab.run import RunSummary, run_scenario
    from blockwatch.lab.scenario import Scenario, load
    from blockwatch.lab.score import ScoreReport, score_run
    from blockwatch.lab.topology import skip_reason

__all__ = [
    "RunSummary",
    "Scenario",
    "ScoreReport",
    "load",
    "run_scenario",
    "score_run",
    "skip_reason",
]

_WHERE = {
    "RunSummary": "run",
    "run_scenario": "run",
    "Scenario": "scenario",
    "load": "scenario",
    "ScoreReport": "score",
    "score_run": "score",
    "skip_reason": "topology",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
