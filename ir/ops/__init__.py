"""The built-in dialects: ``io`` (graph entry and exit), ``nn`` (ANN layers) and
``snn`` (spiking and leaky neurons, NIR vocabulary)."""

from ir.ops import io, nn, snn

__all__ = ["io", "nn", "snn"]
