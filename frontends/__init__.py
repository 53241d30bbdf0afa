"""Frontends: outside models (PyTorch, NIR) to ``ir.Graph`` and back.

``frontends.pytorch`` traces a ``torch.nn.Module`` with ``torch.fx`` (and rebuilds a
module from an ANN graph); the NIR importer arrives as ``frontends.nir``. Every error
a user can trigger here is a :class:`FrontendError`.
"""

from frontends import pytorch
from frontends.errors import FrontendError

__all__ = ["FrontendError", "pytorch"]
