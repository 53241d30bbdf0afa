"""The frontends' domain exception.

Every error a user can trigger by importing an outside model (an unsupported layer, a
call with no IR counterpart, a model ``torch.fx`` cannot trace) is a
:class:`FrontendError` that names the place in the source model.
"""

from __future__ import annotations

__all__ = ["FrontendError"]


class FrontendError(Exception):
    """An outside model that cannot be turned into an ``ir.Graph`` (or back).

    The message names the offending part: a module's qualified path in the model
    (``layer3.1.conv2``) and type, a call and where it is made, or an IR node.
    """
