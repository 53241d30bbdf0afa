"""Frontends: outside models (PyTorch, NIR) to ``ir.Graph`` and back.

``frontends.pytorch`` traces a ``torch.nn.Module`` with ``torch.fx`` (and rebuilds a
module from an ANN graph); ``frontends.nir`` reads and writes NIR graphs (the ``nir``
package is imported only when used); ``frontends.files`` picks one by file extension.
Every error a user can trigger here is a :class:`FrontendError`.

Public names (``__all__``): the modules ``pytorch``, ``nir`` and ``files`` (their own
``__all__`` lists what each offers) and ``FrontendError``.
"""

from frontends import files, nir, pytorch
from frontends.errors import FrontendError

__all__ = ["FrontendError", "files", "nir", "pytorch"]
