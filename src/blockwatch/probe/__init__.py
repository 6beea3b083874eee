"""blockwatch.probe."""
