"""Did-you-mean: the closest known name to a misspelt one, for error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ` (did you mean `x`?)` suffix naming the closest candidate, or nothing.

    >>> did_you_mean("welcom", ["welcome", "rescue"])
    ' (did you mean `welcome`?)'
    >>> did_you_mean("zzz", ["welcome"])
    ''
    """
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.7)
    return f" (did you mean `{close[0]}`?)" if close else ""
