"""blockwatch: an open censorship observatory."""

__version__ = "0.1.0"
