"""spikeforge's intermediate representation.

The graph (:class:`Graph`), the op dialects (``io``, ``nn``, ``snn``), the verifier,
shape inference, the textual format ``.sfir`` and the reference interpreter that
defines what every op means.

Public names (``__all__``), by group:

* the graph: ``Graph``, ``Edge``, ``ops`` (the dialects), ``verify``, ``infer_shapes``;
* the text format and files: ``parse``, ``to_text``, ``FORMAT_VERSION``, ``load``,
  ``save``;
* running a graph: ``interpret``, ``check_input``;
* defining ops: ``Op``, ``Params``, ``register_op``, ``get_op``, ``registered_ops``,
  ``dialect_ops``, the field kinds ``FloatTensor``, ``IntTensor``, ``AnyTensor``;
* errors: ``IRError`` and its kinds ``ParseError``, ``VerifyError``, ``InputError``.

The rest (``ir.literals``, ``ir.plugins``, ``ir.serialize.atomic_write``, ...) stays
importable from its module.
"""

from ir import ops
from ir.errors import InputError, IRError, ParseError, VerifyError
from ir.graph import Edge, Graph
from ir.inputs import check_input
from ir.interpreter import interpret
from ir.op import (
    AnyTensor,
    FloatTensor,
    IntTensor,
    Op,
    Params,
    dialect_ops,
    get_op,
    register_op,
    registered_ops,
)
from ir.parser import parse
from ir.printer import FORMAT_VERSION, to_text
from ir.serialize import load, save
from ir.shapes import infer_shapes
from ir.verifier import verify

__all__ = [
    "FORMAT_VERSION",
    "AnyTensor",
    "Edge",
    "FloatTensor",
    "Graph",
    "IRError",
    "InputError",
    "IntTensor",
    "Op",
    "ParseError",
    "Params",
    "VerifyError",
    "check_input",
    "dialect_ops",
    "get_op",
    "infer_shapes",
    "interpret",
    "load",
    "ops",
    "parse",
    "register_op",
    "registered_ops",
    "save",
    "to_text",
    "verify",
]
