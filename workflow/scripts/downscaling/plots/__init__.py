"""Figures: scores, spectra, variograms and series (figures); maps and animations (maps)."""
