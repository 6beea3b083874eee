"""The probe: OONI's Web Connectivity from the user's own network, in OONI's data format.

``runner`` measures URLs (bounded concurrency) into OONI measurement documents;
``webconnectivity`` is the experiment (its OONI summary keys come from the analysis
package's rules, ``analysis.ooni_summary``: one rule set), ``control_client`` asks the
control helper, ``worker`` is the lab's long-lived probe process. Storing and showing
results is the CLI's business (``blockwatch.cli.session``), not the probe's.
"""

from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.control_client import control_request, health
from blockwatch.probe.runner import envelope, make_report_id, measure_url, measure_urls
from blockwatch.probe.testlist import read_url_list

__all__ = [
    "ProbeConfig",
    "control_request",
    "envelope",
    "health",
    "make_report_id",
    "measure_url",
    "measure_urls",
    "read_url_list",
]
