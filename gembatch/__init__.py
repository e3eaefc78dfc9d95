"""gembatch: run large jobs through the Gemini Batch API without losing a result."""

__version__ = "0.1.0"
