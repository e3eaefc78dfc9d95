"""The monitor's screens and modals."""
