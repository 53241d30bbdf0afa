"""The ``.sfir`` parser: text to a verified ``Graph``, with positioned errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from ir.errors import ParseError, VerifyError
from ir.graph import Graph
from ir.literals import ELIDED, parse_tensor_body, parse_type
from ir.op import FieldKind, get_op
from ir.printer import FORMAT_VERSION
from ir.verifier import verify

__all__ = ["MAX_NESTING", "BlobResolver", "Sidecar", "parse"]

MAX_NESTING = 16
"""Deepest nesting of tuples in an attribute value (op fields use one level)."""

_PARSER = Lark.open(
    "grammar.lark",
    rel_to=__file__,
    parser="lalr",
    propagate_positions=True,
    cache=False,
)
_VERSION = re.compile(r"^\s*sfir\s+(\S+)")
_GRAPH_ATTRS = {"dt": FieldKind("float", optional=True)}

# Readable names for the grammar's terminals, for "expected ..." messages.
_TERMINAL_NAMES = {
    "VALUE_ID": "a node name like %x",
    "OP_NAME": "an op name like nn.linear",
    "NAME": "a name",
    "SYMBOL": "a graph name like @main",
    "PORT": "a port like #output",
    "NUMBER": "a number",
    "STRING": "a string",
    "TENSOR": "a tensor literal like tensor<f32[2]>[1, 2]",
    "BLOB": "a blob reference",
    "PREV": "'prev'",
}

# Tensor-like literals are single tokens; when one is malformed, the lexer sees a name.
_LITERAL_EXAMPLES = {
    "tensor": "tensor<f32[2]>[1, 2]",
    "blob": 'blob<f32[2]> "key"',
}


class Sidecar(NamedTuple):
    """The sidecar a file's header names, and the SHA-256 it records (if any)."""

    name: str
    sha256: str | None = None


BlobResolver = Callable[[Sidecar, str], np.ndarray]
"""Reads blob ``key`` from the sidecar the file names: ``resolve(sidecar, key)``."""


def parse(
    text: str,
    *,
    source_name: str = "<string>",
    blobs: Mapping[str, np.ndarray] | BlobResolver | None = None,
    verify_graph: bool = True,
) -> Graph:
    """Parse ``.sfir`` text into a graph and verify it.

    Args:
        text: the file's contents.
        source_name: file name used in error messages.
        blobs: arrays for ``blob<...> "key"`` references: a mapping by key, or a
            function ``(sidecar, key) -> array`` given the sidecar the file's header
            names; ``ir.load`` supplies one that reads the sidecar file.
        verify_graph: run ``ir.verify`` on the result (errors then point at the node).

    Raises:
        ParseError: with line, column, the offending line and a caret.
    """
    return _Builder(text, source_name, blobs).build(verify_graph)


class _Builder:
    def __init__(
        self,
        text: str,
        source_name: str,
        blobs: Mapping[str, np.ndarray] | BlobResolver | None,
    ) -> None:
        self.text = text
        # Lines as lark counts them (only "\n" ends a line), for the caret context.
        self.lines = [line.removesuffix("\r") for line in text.split("\n")]
        self.source_name = source_name
        self.blobs = blobs
        self.sidecar: str | None = None
        self.sidecar_sha256: str | None = None
        self.positions: dict[str, tuple[int | None, int | None]] = {}
        self.graph_position: tuple[int, int] | None = None

    # -- errors ----------------------------------------------------------------------
    def error(self, message: str, line: int | None, column: int | None) -> ParseError:
        source_line = None
        if line is not None and 1 <= line <= len(self.lines):
            source_line = self.lines[line - 1]
        return ParseError(
            message,
            line=line,
            column=column,
            source_name=self.source_name,
            source_line=source_line,
        )

    def error_at(self, message: str, item: Token | Tree[Any]) -> ParseError:
        if isinstance(item, Token):
            return self.error(message, item.line, item.column)
        return self.error(message, item.meta.line, item.meta.column)

    # -- driver ----------------------------------------------------------------------
    def build(self, verify_graph: bool) -> Graph:
        self.check_version()
        try:
            tree = _PARSER.parse(self.text)
        except UnexpectedInput as err:
            raise self.syntax_error(err) from None
        _, *rest = tree.children
        graph_tree = rest[-1]
        if len(rest) == 2:
            sidecar_tree = rest[0]
            assert isinstance(sidecar_tree, Tree)
            self.sidecar = self.sidecar_name(_token(sidecar_tree.children[0]))
            if len(sidecar_tree.children) > 1:
                self.sidecar_sha256 = self.sha256(_token(sidecar_tree.children[1]))
        assert isinstance(graph_tree, Tree)
        graph = self.graph(graph_tree)
        if verify_graph:
            try:
                verify(graph)
            except VerifyError as err:
                # NOTE: graph-level errors (a cycle, no output) name no node; they point
                # at the graph header instead.
                pos = self.positions.get(err.node or "", self.graph_position)
                raise self.error(str(err), *(pos or (None, None))) from None
        return graph

    def check_version(self) -> None:
        for number, line in enumerate(self.lines, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("//"):
                continue
            m = _VERSION.match(line)
            if m is None:
                raise self.error(
                    f"expected the header 'sfir {FORMAT_VERSION}' first", number, 1
                )
            if m.group(1) != str(FORMAT_VERSION):
                raise self.error(
                    f"file is .sfir format version {m.group(1)}; this spikeforge reads "
                    f"version {FORMAT_VERSION}",
                    number,
                    m.start(1) + 1,
                )
            return
        raise self.error(
            f"empty file; expected the header 'sfir {FORMAT_VERSION}'", 1, 1
        )

    def syntax_error(self, err: UnexpectedInput) -> ParseError:
        if isinstance(err, UnexpectedEOF):
            line = max(len(self.lines), 1)
            column = len(self.lines[-1]) + 1 if self.lines else 1
            return self.error(
                f"unexpected end of file; expected {_expected(err.expected)}",
                line,
                column,
            )
        if isinstance(err, UnexpectedCharacters):
            pos = err.pos_in_stream or 0
            char = self.text[pos] if pos < len(self.text) else ""
            return self.error(
                f"unexpected character {char!r}; expected {_expected(err.allowed)}",
                err.line,
                err.column,
            )
        token = getattr(err, "token", None)
        expected: Iterable[str] = getattr(err, "expected", set())
        if (
            token is not None
            and str(token) in _LITERAL_EXAMPLES
            and self.text.startswith("<", token.end_pos)
        ):
            example = _LITERAL_EXAMPLES[str(token)]
            message = f"malformed {token} literal; expected e.g. {example}"
            return self.error(message, err.line, err.column)
        shown = (
            "end of file" if token is None or token.type == "$END" else repr(str(token))
        )
        line, column = err.line, err.column
        if token is not None and token.type == "$END" and token.end_line is not None:
            # lark puts the end of file at the last token; point just after it.
            line, column = token.end_line, token.end_column
        message = f"unexpected {shown}; expected {_expected(expected)}"
        return self.error(message, line, column)

    # -- tree walking ----------------------------------------------------------------
    def graph(self, tree: Tree[Any]) -> Graph:
        symbol, *rest = tree.children
        name = self.name(_token(symbol))
        self.graph_position = (tree.meta.line, tree.meta.column)
        attrs: dict[str, Any] = {}
        nodes = rest
        if rest and isinstance(rest[0], Tree) and rest[0].data == "attr_dict":
            attrs = self.graph_attrs(rest[0])
            nodes = rest[1:]
        graph = Graph(name, dt=attrs.get("dt"))
        pending: list[tuple[str, Tree[Any]]] = []
        for node in nodes:
            pending.extend(self.node(graph, node))
        for dst, operand in pending:
            self.edge(graph, dst, operand)
        return graph

    def graph_attrs(self, tree: Tree[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value_tree, attr in self.attrs(tree):
            kind = _GRAPH_ATTRS.get(key)
            if kind is None:
                raise self.error_at(
                    f"unknown graph attribute '{key}'; known: {', '.join(_GRAPH_ATTRS)}",
                    attr,
                )
            out[key] = self.coerce(kind, self.value(value_tree), value_tree, key)
        return out

    def node(self, graph: Graph, tree: Tree[Any]) -> list[tuple[str, Tree[Any]]]:
        id_token, op_token = _token(tree.children[0]), _token(tree.children[1])
        rest = tree.children[2:]
        name = self.name(id_token)
        if name in graph:
            first = self.positions[name]
            raise self.error_at(
                f"duplicate node name '%{name}' (first defined at line {first[0]})",
                id_token,
            )
        try:
            op_cls = get_op(str(op_token))
        except KeyError as err:
            raise self.error_at(str(err.args[0]), op_token) from None
        operands: list[Tree[Any]] = []
        fields: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for part in rest:
            if part is None:
                continue
            if part.data == "operands":
                operands = list(part.children)
            elif part.data == "attr_dict":
                fields = self.op_fields(op_cls, part, op_token)
            elif part.data == "meta":
                meta = {k: self.value(v) for k, v, _ in self.attrs(part.children[0])}
        try:
            op = op_cls(**fields)
        except VerifyError as err:
            raise self.error_at(f"node '%{name}': {err.detail}", id_token) from None
        try:
            graph.add(name, op, meta=meta)
        except VerifyError as err:  # e.g. an empty name: %""
            raise self.error_at(str(err), id_token) from None
        self.positions[name] = (id_token.line, id_token.column)
        if not op_cls.input_ports and operands:
            raise self.error_at(f"{op_cls.name} takes no operands", operands[0])
        return [(name, o) for o in operands]

    def op_fields(
        self, op_cls: Any, tree: Tree[Any], op_token: Token
    ) -> dict[str, Any]:
        kinds: dict[str, FieldKind] = op_cls.fields_
        fields: dict[str, Any] = {}
        for key, value_tree, attr in self.attrs(tree):
            if key not in kinds:
                valid = ", ".join(kinds) or "(none)"
                raise self.error_at(
                    f"{op_cls.name} has no field '{key}'; its fields: {valid}", attr
                )
            fields[key] = self.coerce(
                kinds[key], self.value(value_tree), value_tree, key
            )
        import dataclasses

        required = [
            f.name
            for f in dataclasses.fields(op_cls)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        missing = [f for f in required if f not in fields]
        if missing:
            raise self.error_at(
                f"{op_cls.name} needs field(s) {', '.join(missing)}", op_token
            )
        return fields

    def attrs(self, tree: Tree[Any]) -> list[tuple[str, Any, Tree[Any]]]:
        out = []
        seen: set[str] = set()
        for attr in tree.children:
            if attr is None:
                continue
            key_token, value_tree = attr.children
            key = str(key_token)
            if key in seen:
                raise self.error_at(f"attribute '{key}' given twice", key_token)
            seen.add(key)
            out.append((key, value_tree, attr))
        return out

    def coerce(self, kind: FieldKind, value: Any, where: Any, key: str) -> Any:
        try:
            return kind.coerce(value)
        except TypeError as err:
            raise self.error_at(f"'{key}': {err}", where) from None

    def edge(self, graph: Graph, dst: str, operand: Tree[Any]) -> None:
        dst_port = graph.op(dst).input_ports[0]
        recurrent = False
        src_port: str | None = None
        src_token: Token | None = None
        for child in operand.children:
            if not isinstance(child, Token):
                continue
            if child.type == "NAME":
                dst_port = str(child)
            elif child.type == "PREV":
                recurrent = True
            elif child.type == "VALUE_ID":
                src_token = child
            elif child.type == "PORT":
                src_port = str(child)[1:]
        assert src_token is not None  # the grammar requires it
        src = self.name(src_token)
        if src not in graph:
            raise self.error_at(
                f"'%{src}' is not defined in graph @{graph.name}", src_token
            )
        if src_port is None:
            ports = graph.op(src).output_ports
            if not ports:
                raise self.error_at(
                    f"'%{src}' is {graph.op(src).name}, which has no output", src_token
                )
            src_port = ports[0]
        try:
            graph.connect(
                src, dst, src_port=src_port, dst_port=dst_port, recurrent=recurrent
            )
        except VerifyError as err:
            raise self.error_at(err.detail, src_token) from None

    # -- values ----------------------------------------------------------------------
    def name(self, token: Token) -> str:
        body = str(token)[1:]
        if not body.startswith('"'):
            return body
        return self.string(Token.new_borrow_pos("STRING", body, token))

    def sidecar_name(self, token: Token) -> str:
        name = self.string(token)
        if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
            raise self.error_at(
                f"sidecar {name!r} must be a bare file name in this file's folder "
                "(no folder part, no '..')",
                token,
            )
        return name

    def sha256(self, token: Token) -> str:
        value = self.string(token)
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise self.error_at(
                f"sidecar sha256 {value!r} is not 64 lowercase hex digits", token
            )
        return value

    def string(self, token: Token) -> str:
        try:
            value = json.loads(str(token))
        except json.JSONDecodeError:
            raise self.error_at(f"malformed string {token!s}", token) from None
        if not isinstance(value, str):
            raise self.error_at("expected a string", token)
        return value

    def value(self, tree: Tree[Any], depth: int = 0) -> Any:
        kind = tree.data
        if kind == "number":
            token = _token(tree.children[0])
            try:
                return _number(str(token))
            except ValueError as err:  # Python's int-to-string digit limit
                raise self.error_at(f"bad number: {err}", token) from None
        if kind == "string":
            return self.string(_token(tree.children[0]))
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "none":
            return None
        if kind == "tuple":
            if depth >= MAX_NESTING:
                raise self.error_at(
                    f"tuples nested deeper than the limit MAX_NESTING = {MAX_NESTING}",
                    tree,
                )
            return tuple(
                self.value(v, depth + 1) for v in tree.children if v is not None
            )
        if kind == "tensor":
            return self.tensor(_token(tree.children[0]))
        if kind == "blob":
            return self.blob(_token(tree.children[0]), _token(tree.children[1]))
        raise self.error_at(f"unexpected value {kind}", tree)

    def tensor(self, token: Token) -> np.ndarray:
        text = str(token)
        try:
            dtype, shape, end = parse_type(text)
            return parse_tensor_body(text[end + 1 : -1], dtype, shape)
        except ValueError as err:
            raise self.error_at(f"bad tensor literal: {err}", token) from None

    def blob(self, type_token: Token, key_token: Token) -> np.ndarray:
        key = self.string(key_token)
        if key == ELIDED:
            raise self.error_at(
                f"tensor{str(type_token)[4:]} was elided when this IR was printed "
                "(--elide-tensors-larger-than): elided IR is for reading and cannot "
                "be parsed; print it again without elision (spikeforge opt -o FILE "
                "writes every element)",
                key_token,
            )
        try:
            dtype, shape, _ = parse_type(str(type_token))
        except ValueError as err:
            raise self.error_at(f"bad blob type: {err}", type_token) from None
        if self.blobs is None or (callable(self.blobs) and self.sidecar is None):
            if self.sidecar is None:
                raise self.error_at(
                    f"blob '{key}' needs a sidecar file, but this file names none",
                    key_token,
                )
            raise self.error_at(
                f"blob '{key}' needs its sidecar '{self.sidecar}'; read the file with "
                "ir.load",
                key_token,
            )
        source = f"sidecar '{self.sidecar}'" if self.sidecar else "the blobs given"
        try:
            if callable(self.blobs):
                assert self.sidecar is not None  # checked above
                arr = self.blobs(Sidecar(self.sidecar, self.sidecar_sha256), key)
            else:
                arr = self.blobs[key]
        except KeyError:
            message = f"blob '{key}' is missing from {source}"
            raise self.error_at(message, key_token) from None
        except OSError as err:
            raise self.error_at(
                f"cannot read sidecar '{self.sidecar}': {err}", key_token
            ) from None
        if arr.dtype != dtype or arr.shape != shape:
            raise self.error_at(
                f"blob '{key}' is {arr.dtype}{list(arr.shape)} in the sidecar, but the text "
                f"declares {dtype}{list(shape)}",
                key_token,
            )
        return arr


def _number(text: str) -> int | float:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


def _expected(names: Iterable[str]) -> str:
    shown = set()
    for name in names:
        if name in _TERMINAL_NAMES:
            shown.add(_TERMINAL_NAMES[name])
            continue
        try:
            pattern = _PARSER.get_terminal(name).pattern
        except KeyError:
            shown.add(name)
            continue
        shown.add(f"'{pattern.value}'" if pattern.type == "str" else name)
    return "one of " + ", ".join(sorted(shown)) if len(shown) > 1 else "".join(shown)


def _token(item: object) -> Token:
    """``item`` as a token; the grammar puts one here, so anything else is our bug."""
    if not isinstance(item, Token):
        raise TypeError(f"parser: expected a token, got {item!r}")
    return item
