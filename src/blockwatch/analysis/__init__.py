"""blockwatch.analysis."""
