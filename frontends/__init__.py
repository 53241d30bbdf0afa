"""Frontends: outside models (PyTorch, NIR) to ``ir.Graph`` and back.

The PyTorch and NIR importers arrive with their own modules (``frontends.pytorch``,
``frontends.nir``).
"""

__all__: list[str] = []
