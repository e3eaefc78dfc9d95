"""The version, on the ground floor: the command line reads it without the library."""

__version__ = "0.1.0"
