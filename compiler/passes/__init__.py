"""Generic passes, one per module; the registry (``compiler.registry``) lists them."""

__all__: list[str] = []
