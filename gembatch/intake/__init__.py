"""What goes in: inputs read and checked, estimates, limits, submit and its recovery."""
