"""Inference: stitched daily fields from overlapping tiles (stitched), the long run beyond the G5NR
record in chunks (longrun) and the baselines made from the same cubes (baselines)."""
