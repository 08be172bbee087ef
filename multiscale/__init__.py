"""msim: concurrent atomistic/continuum multiscale simulation."""

__version__ = "0.1.0"
