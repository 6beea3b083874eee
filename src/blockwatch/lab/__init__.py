"""blockwatch.lab."""
