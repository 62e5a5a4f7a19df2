"""The package version, in a module of its own: stages read it without importing the package root
(whose ``__init__`` re-exports the public API of later stages)."""

__version__ = "0.1.0"
