"""Online alarms: when the running evidence for a block in one series crosses a threshold.

The offline cut (``analysis.segment``) sees a whole series; an alarm is what a watcher with the
same model learns bucket by bucket, for the detection delay of the lab's score.
"""

from __future__ import annotations

from datetime import datetime

from blockwatch.analysis.segment import DetectorParams, bernoulli_cost, blocked_by
from blockwatch.analysis.series import Grid, Series

__all__ = ["alarm_times"]


def alarm_times(
    cells: Series, grid: Grid, p: DetectorParams, masked: set[int] | None = None
) -> list[datetime]:
    """Online view: when the running evidence for a block first crosses the alarm threshold.

    One CUSUM per method and blocking level over the log-likelihood ratio of that method's
    failures against the network's stray rate of it; an alarm re-arms once every accumulator
    has fallen back to zero. Used for detection delay.
    """
    masked = masked or set()
    live = [i for i in sorted(cells) if cells[i].n and i not in masked]
    methods = sorted({v.method for i in live for v in cells[i].blocked}, key=lambda m: m or "")
    models = [(m, p.for_methods({m})) for m in methods]
    acc = [[0.0 for _ in pm.levels] for _, pm in models]
    alarms: list[datetime] = []
    armed = True
    for i in live:
        c = cells[i]
        for j, (m, pm) in enumerate(models):
            k = blocked_by(c, {m})
            base = bernoulli_cost(pm.stray_rate, k, c.n)
            acc[j] = [
                max(0.0, a + base - bernoulli_cost(q, k, c.n))
                for a, q in zip(acc[j], pm.levels, strict=True)
            ]
        top = max((max(a) for a in acc), default=0.0)
        if armed and top >= p.alarm_threshold:
            alarms.append(max(v.measured_at for v in c.blocked) if c.blocked else grid.at(i))
            armed = False
        elif not armed and top == 0.0:
            armed = True
    return alarms
