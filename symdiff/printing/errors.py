"""Errors of the SymPy bridge (importable without importing SymPy)."""


class SympyConversionError(ValueError):
    """A graph that is not one scalar expression per element, or an op with no SymPy rendering."""


class UnsupportedSympyError(ValueError):
    """A SymPy function or object with no graph counterpart."""
