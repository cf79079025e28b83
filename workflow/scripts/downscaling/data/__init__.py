"""From cubes to model inputs: train/test splits, normalised fields and tile datasets, tiling and
stitching, and the transfer features of the frozen encoder."""
