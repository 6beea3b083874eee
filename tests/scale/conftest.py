"""The loopback OONI archive, filled with the real measurements of ../shared/data and copies
of them planted in Pakistan in February 2024."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockwatch.scale.testing import load_real_measurements, replant
from scalehelpers import FEB_2024


@pytest.fixture(scope="session")
def archive_texts(ooni_data: Path) -> list[bytes]:
    """The real measurements as they are, plus 240 of them replanted in PK, Feb 2024."""
    real = load_real_measurements(ooni_data)
    if not real:
        pytest.skip(f"no readable measurements under {ooni_data}")
    return real + replant(real, 240, country="PK", since=FEB_2024[0], until=FEB_2024[1])
