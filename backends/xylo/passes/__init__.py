"""The Xylo target's passes (registered through ``XyloTarget.passes``)."""

from backends.xylo.passes.adapt_xylo import AdaptXyloPass
from backends.xylo.passes.allocate_xylo import AllocateXyloPass
from backends.xylo.passes.quantize_xylo import QuantizeXyloPass

__all__ = ["AdaptXyloPass", "AllocateXyloPass", "QuantizeXyloPass"]
