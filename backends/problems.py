"""The message of a configuration check that found problems, one line each.

Every target's ``config.check()`` raises its own ``ConfigError`` with this message,
so that a user reads every problem of a configuration at once, in one form.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["problem_list"]


def problem_list(what: str, errors: Sequence[str]) -> str:
    """``invalid <what> configuration (2 problems):``, then a ``  - `` line each."""
    count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    return f"invalid {what} configuration ({count}):\n  - " + "\n  - ".join(errors)
