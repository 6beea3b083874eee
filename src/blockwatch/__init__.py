"""blockwatch: an open censorship observatory.

Measure from a vantage, compare with an uncensored control, classify each measurement, detect
events, show and export the evidence. The packages, and which may import which, are described
in docs/architecture.md.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
