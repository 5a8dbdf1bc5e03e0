"""Suggestions for a misspelt name: the closest valid one, or the list of valid names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`` did you mean 'x'?`` for the closest candidate, or a list of the valid names."""
    candidates = sorted(candidates)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if not candidates:
        return "; none is registered (are the plugins installed?)"
    return f"; valid names: {', '.join(candidates)}"
