"""OONI's measurement data format: parse and emit."""
