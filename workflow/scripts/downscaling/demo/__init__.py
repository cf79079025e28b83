"""The embedded demo: a synthetic dust world with known truth (world) written in the real files'
conventions (files)."""
