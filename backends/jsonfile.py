"""Reading a build's ``config.json``: one JSON object, or an error naming the file.

Every target's loader reads its ``config.json`` through :func:`read_json_object` and
its typed fields through :func:`json_field`, so that a malformed file (bad syntax,
nesting deep enough to exhaust the stack, ``true`` where a number belongs) gives the
target's own error with the file and the field, never a ``RecursionError`` or a
``KeyError``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["json_field", "read_json_object"]

_MISSING: Any = object()


def read_json_object(
    path: str | os.PathLike[str], *, error: type[Exception]
) -> dict[str, Any]:
    """Parse ``path`` as a JSON object; raise ``error(message)`` naming the file.

    Raises:
        error: a missing or unreadable file, bad JSON (with line and column), JSON
            nested too deeply, or a value that is not an object.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{file}: cannot read: {err}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise error(f"{file}:{err.lineno}:{err.colno}: {err.msg}") from None
    except RecursionError:
        raise error(f"{file}: JSON nested too deeply to be a configuration") from None
    except ValueError as err:  # e.g. an integer with too many digits
        raise error(f"{file}: {err}") from None
    if not isinstance(value, dict):
        raise error(f"{file}: expected a JSON object, got {type(value).__name__}")
    return value


def json_field(
    meta: dict[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    *,
    path: str | os.PathLike[str],
    error: type[Exception],
    default: Any = _MISSING,
) -> Any:
    """Return ``meta[key]`` if it is a ``kind``; else raise ``error`` naming it.

    ``true``/``false`` are never taken for numbers (Python's ``bool`` is an ``int``).
    """
    if key not in meta:
        if default is not _MISSING:
            return default
        raise error(f"{path}: missing field '{key}'")
    value = meta[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(_json_name(k) for k in kinds)
        raise error(
            f"{path}: field '{key}' must be {names}, got {json.dumps(value)[:60]}"
        )
    return value


def _json_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "an object",
    }.get(kind, kind.__name__)
