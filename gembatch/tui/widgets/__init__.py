"""Small widgets for the monitor."""
