"""A package's public names imported on first use (PEP 562).

A package lists its public names with the module that defines each, and
``lazy_attributes`` builds the package's ``__getattr__`` and ``__dir__`` from that
table::

    _EXPORTS = {"Graph": "ir.graph", "parse": "ir.parser"}
    __getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)

so importing the package imports none of those modules: ``spikeforge --help`` starts
without PyTorch. This module imports only the standard library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from types import ModuleType
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    namespace: dict[str, Any],
    exports: Mapping[str, str],
    *,
    submodules: bool | Collection[str] = True,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a package's module-level ``__getattr__`` and ``__dir__``.

    A public name loads its module and is stored in ``namespace``, so the next lookup
    is a plain one. Another name is tried as a submodule (``package.<name>``, as when
    the package imported its submodules) where ``submodules`` allows it. Anything else
    raises ``AttributeError: module 'package' has no attribute 'name'``.

    Args:
        namespace: the package's ``globals()`` (its ``__name__`` and ``__all__``).
        exports: public name -> the module that defines it.
        submodules: ``True``: any name but a dunder probe (``__wrapped__``) may be a
            submodule; a collection: only those names; ``False``: none.
    """
    package: str = namespace["__name__"]

    def may_be_submodule(name: str) -> bool:
        if isinstance(submodules, bool):
            return submodules and not name.startswith("__")
        return name in submodules

    def __getattr__(name: str) -> Any:
        value: Any
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        elif not may_be_submodule(name) or (value := _submodule(package, name)) is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__


def _submodule(package: str, name: str) -> ModuleType | None:
    """Import ``package.name``; ``None`` where there is no such module."""
    try:
        return importlib.import_module(f"{package}.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"{package}.{name}":
            raise  # the submodule exists but something it imports does not
        return None
