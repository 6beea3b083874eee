"""The control helper: the uncensored vantage, speaking OONI's test-helper protocol.

``helper`` measures a URL for a probe (behind an SSRF guard); ``server`` serves it over HTTP.
The client side lives with the probe (``blockwatch.probe.control_client``).
"""

from blockwatch.control.helper import Helper, HelperConfig, validate
from blockwatch.control.server import ControlServer

__all__ = ["ControlServer", "Helper", "HelperConfig", "validate"]
