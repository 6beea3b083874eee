"""blockwatch.web."""
