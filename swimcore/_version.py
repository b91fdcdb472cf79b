"""The one place the version is written: pyproject.toml reads it (a dynamic version)."""

__version__ = "0.2.0"
