"""What a run reports: totals, exit-code groups, cost, progress, the counted history."""
