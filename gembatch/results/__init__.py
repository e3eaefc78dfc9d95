"""What comes out: results paths, verified saves, downloads, merges, the index, export."""
