"""The job file: its lines, records, fields, disk writes and the data-safety rules."""
