"""blockwatch.control."""
