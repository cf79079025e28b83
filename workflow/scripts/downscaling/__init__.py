"""Transfer-learning diffusion downscaling of MERRA-2 aerosol optical depth to the G5NR grid."""

__version__ = "0.9.0"
