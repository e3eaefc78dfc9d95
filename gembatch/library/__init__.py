"""The Python library: `gembatch.Run` and what it returns (see docs/library.md)."""
